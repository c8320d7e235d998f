"""Build hook: ships the guest component as package data ``wasmpg/wasmpg_guest.wasm``.

At build time the component is taken from, in order:

1. ``$WASMPG_GUEST_WASM``, if set;
2. ``../target/guest/wasm32-wasip2/guest/wasmpg_guest.wasm`` (what ``cargo build -p wasmpg``
   builds from this repository's ``guest/``), when present;
3. ``../host/component/wasmpg_guest.wasm``, the committed component, checked against its
   recorded SHA-256 (the Rust host's tests keep it identical to what ``guest/`` builds), so
   ``pip install ./python`` needs no Rust at all;
4. ``src/wasmpg/wasmpg_guest.wasm`` (an sdist).

The file is copied into the build and into ``src/wasmpg/`` (git-ignored), so editable
installs and sdists find it too.
"""

import hashlib
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py
from setuptools.command.sdist import sdist as _sdist

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAME = "wasmpg_guest.wasm"
BUILT = os.path.join(ROOT, "target", "guest", "wasm32-wasip2", "guest", NAME)
IN_TREE = os.path.join(HERE, "src", "wasmpg", NAME)
COMMITTED = os.path.join(ROOT, "host", "component", NAME)


def _committed() -> str:
    """The committed component, after checking it against its recorded SHA-256."""
    with open(COMMITTED, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(COMMITTED + ".sha256", encoding="ascii") as f:
        recorded = f.read().split()[0].lower()
    if digest != recorded:
        raise SystemExit(
            "wasmpg: %s has SHA-256 %s but %s.sha256 records %s: the file is damaged"
            % (COMMITTED, digest, COMMITTED, recorded)
        )
    return COMMITTED


def guest_component() -> str:
    """The path of the component to ship."""
    override = os.environ.get("WASMPG_GUEST_WASM")
    if override:
        return override
    if os.path.isfile(BUILT):
        return BUILT
    if os.path.isfile(COMMITTED):
        return _committed()
    if os.path.isfile(IN_TREE):
        return IN_TREE
    raise SystemExit(
        "wasmpg: no guest component: neither %s, nor %s, nor %s exists"
        % (BUILT, COMMITTED, IN_TREE)
    )


def _place(dest_dir: str) -> None:
    src = guest_component()
    os.makedirs(dest_dir, exist_ok=True)
    dest = os.path.join(dest_dir, NAME)
    if os.path.abspath(src) != os.path.abspath(dest):
        shutil.copyfile(src, dest)


class build_py(_build_py):
    def run(self) -> None:
        _place(os.path.dirname(IN_TREE))
        super().run()
        _place(os.path.join(self.build_lib, "wasmpg"))


class sdist(_sdist):
    def run(self) -> None:
        _place(os.path.dirname(IN_TREE))
        super().run()


setup(cmdclass={"build_py": build_py, "sdist": sdist})
