"""The command-line tools, each a thin main(): train, predict, evaluate, benchmark."""
