"""Build hook: ships the guest component as package data ``wasmpg/wasmpg_guest.wasm``.

The component is not committed. At build time it is taken from, in order:

1. ``$WASMPG_GUEST_WASM``, if set;
2. ``../target/guest/wasm32-wasip2/guest/wasmpg_guest.wasm`` (what ``cargo build -p wasmpg``
   produces in this repository), when present;
3. ``src/wasmpg/wasmpg_guest.wasm`` (an sdist, or an earlier build);
4. otherwise ``cargo build --profile guest --locked -p wasmpg-guest --target wasm32-wasip2
   --target-dir target/guest``, run from the repository root (needs Rust and
   ``rustup target add wasm32-wasip2``).

The file is copied into the build and into ``src/wasmpg/`` (git-ignored), so editable
installs and sdists find it too.
"""

import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py
from setuptools.command.sdist import sdist as _sdist

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAME = "wasmpg_guest.wasm"
BUILT = os.path.join(ROOT, "target", "guest", "wasm32-wasip2", "guest", NAME)
IN_TREE = os.path.join(HERE, "src", "wasmpg", NAME)


def _cargo_build() -> str:
    if not os.path.isfile(os.path.join(ROOT, "guest", "Cargo.toml")):
        raise SystemExit(
            "wasmpg: the guest component %s is missing and the Rust sources are not here to "
            "build it" % NAME
        )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("CARGO_BUILD_", "CARGO_PROFILE_", "CARGO_TARGET_", "CARGO_ENCODED_", "RUSTC_")
        )
        and k not in ("RUSTFLAGS", "CARGO_TARGET_DIR")
    }
    cmd = [
        os.environ.get("CARGO", "cargo"),
        "build",
        "--profile",
        "guest",
        "--locked",
        "-p",
        "wasmpg-guest",
        "--target",
        "wasm32-wasip2",
        "--target-dir",
        os.path.join(ROOT, "target", "guest"),
    ]
    print("wasmpg: building the guest component: %s" % " ".join(cmd), file=sys.stderr)
    try:
        subprocess.check_call(cmd, cwd=ROOT, env=env)
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(
            "wasmpg: building the guest component failed (%s); is the target installed? "
            "`rustup target add wasm32-wasip2`" % e
        ) from e
    return BUILT


def guest_component() -> str:
    """The path of the component to ship."""
    override = os.environ.get("WASMPG_GUEST_WASM")
    if override:
        return override
    if os.path.isfile(BUILT):
        return BUILT
    if os.path.isfile(IN_TREE):
        return IN_TREE
    return _cargo_build()


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
