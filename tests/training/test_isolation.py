"""Training runs share one server: each draws from its own seed, none reseeds the process, and at most
MAX_TRAINING_RUNS train at once (a run beyond them waits its turn)."""
import random
import threading

import numpy as np
import pytest
from sklearn.datasets import load_digits

from core.teaching.background import MAX_TRAINING_RUNS, Job, Report, TrainingQueue
from core.teaching.live_training import LabelledArrays, LiveTraining, TrainingConfig, build_small_cnn, train_live

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def digits() -> LabelledArrays:
    bunch = load_digits()
    x = (bunch.images[:300] / 16.0).astype(np.float32)[..., None]
    return LabelledArrays("digits", x, bunch.target[:300], tuple(map(str, range(10))))


def test_the_same_seed_gives_the_same_starting_weights_and_another_seed_others():
    weights = [build_small_cnn((8, 8, 1), 10, TrainingConfig(seed=s)).get_weights()[0] for s in (7, 7, 8)]
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.allclose(weights[0], weights[2])


def test_a_run_leaves_the_process_random_state_alone(digits):
    random.seed(123)
    np.random.seed(123)
    expected = (random.random(), np.random.rand())
    random.seed(123)
    np.random.seed(123)
    train_live(digits, TrainingConfig(epochs=1, seed=5))
    assert (random.random(), np.random.rand()) == expected


def test_two_runs_with_one_seed_learn_the_same_curve(digits):
    first, second = (train_live(digits, TrainingConfig(epochs=2, seed=3)).history["loss"] for _ in range(2))
    np.testing.assert_allclose(first, second, rtol=1e-4)


def test_a_run_beyond_the_servers_limit_waits_its_turn_then_trains(digits):
    queue, gate = TrainingQueue(), threading.Event()

    def hold(report: Report) -> None:
        gate.wait(60)

    holders = [Job(hold, queue=queue, owner=f"session {i}").start() for i in range(MAX_TRAINING_RUNS)]
    run = Job(LiveTraining(digits, TrainingConfig(epochs=1)), queue=queue, owner="me").start()
    run.wait(0.5)
    assert not run.started and run.place.position == 1 and run.place.training == MAX_TRAINING_RUNS
    gate.set()  # one of the others finishes: the waiting run takes its slot
    run.wait(120)
    assert run.succeeded and run.result.epochs_run == 1 and all(job.succeeded for job in holders)
