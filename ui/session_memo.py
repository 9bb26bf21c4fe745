"""What reruns redraw from an upload, remembered in the session's own state: nothing made from a user's film outlives
the session or reaches another one (st.cache_data and st.cache_resource are shared by every session of the server)."""
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

T = TypeVar("T")
MEMO_KEY = "session_memo"  # session_state: {store: OrderedDict(key -> value)}, the least recently used let go first


def remembered(store: str, key: Hashable, make: Callable[[], T], max_entries: int = 8) -> T:
    """`make()`'s value for `key`, made once per session and kept among the store's `max_entries` latest."""
    memo = st.session_state.setdefault(MEMO_KEY, {}).setdefault(store, OrderedDict())
    if key in memo:
        memo.move_to_end(key)
        return memo[key]
    value = memo[key] = make()
    while len(memo) > max_entries:
        memo.popitem(last=False)
    return value
