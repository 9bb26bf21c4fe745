"""Which folders on the server a browser user may name: none, unless whoever runs the server lists allowed roots.

    CXR_DATA_ROOTS=/data/xrays:/srv/teaching streamlit run app.py

A folder a user types is resolved (symbolic links and '..' followed) and must lie inside one of the roots. A path
outside them gets the same refusal whether or not it exists, so the server's folders cannot be probed.
"""
import os
from pathlib import Path

ROOTS_VARIABLE = "CXR_DATA_ROOTS"  # allowed root folders, separated by os.pathsep (':' on Linux and macOS)


class ServerPathError(ValueError):
    """A folder a user may not use, or that is not there; the message says only what the user may know."""


def allowed_roots() -> list[Path]:
    """The resolved root folders named in CXR_DATA_ROOTS; empty when server folders are off."""
    names = os.environ.get(ROOTS_VARIABLE, "").split(os.pathsep)
    return [Path(name).expanduser().resolve() for name in names if name.strip()]


def server_folders_allowed() -> bool:
    return bool(allowed_roots())


def resolve_user_folder(typed: str) -> Path:
    """The folder a user typed, absolute or relative to the first root, if it is an existing folder inside a root."""
    roots = allowed_roots()
    if not roots:
        raise ServerPathError(f"folders on this server are switched off; whoever runs the server can allow some "
                              f"by setting {ROOTS_VARIABLE}")
    try:
        path = (roots[0] / typed.strip()).resolve()  # an absolute path replaces the root
    except (OSError, RuntimeError, ValueError):  # a symbolic-link loop, a NUL character
        path = None
    if path is None or not any(path.is_relative_to(root) for root in roots):
        raise ServerPathError("that folder is not one this server allows; use a folder inside "
                              + " or ".join(str(root) for root in roots))
    if not path.is_dir():
        raise ServerPathError("no such folder inside the allowed folders")
    return path
