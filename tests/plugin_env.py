"""A throwaway environment to pip-install plugin packages into, for the guide and scaffold tests.

A venv made from the shared venv's python does not see that venv's packages (``--system-site-packages``
means the base interpreter's), so a ``.pth`` file puts the hepadv tree under test first and then the
running environment's site-packages (torch, pytest, setuptools...) on its path. Packages are installed
with ``--no-deps --no-build-isolation``: offline, nothing reinstalled.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class PluginEnv:
    """A venv at ``root`` whose ``python`` imports this checkout's hepadv and installs plugins locally."""

    def __init__(self, root: Path) -> None:
        self.root = root
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.python = root / "bin" / "python"
        purelib = subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        ours = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
        lines = [str(REPO), *(f"import site; site.addsitedir({p!r})" for p in sorted(ours))]
        (Path(purelib) / "00-hepadv-under-test.pth").write_text("\n".join(lines) + "\n")
        script = root / "bin" / "hepadv"  # what `pip install hepadv` would put on PATH
        script.write_text(f"#!{self.python}\nfrom hepadv.cli.main import main\nmain()\n")
        script.chmod(0o755)

    def env(self, load_plugins: list[str] | None = None) -> dict[str, str]:
        """The environment for commands in this venv; ``load_plugins`` None: every installed plugin loads."""
        env = {k: v for k, v in os.environ.items() if k not in ("HEPADV_LOAD_PLUGINS", "PYTHONPATH")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.root)
        if load_plugins is not None:
            env["HEPADV_LOAD_PLUGINS"] = ",".join(load_plugins)
        return env

    def install(self, *packages: Path, editable: bool = False) -> None:
        args = [str(self.python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                "--no-index", "--disable-pip-version-check", "--ignore-installed"]
        for pkg in packages:
            args += ["-e", str(pkg)] if editable else [str(pkg)]
        run(args, env=self.env(), cwd=self.root)

    def run(self, args: list[str], cwd: Path, load_plugins: list[str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(args, env=self.env(load_plugins), cwd=cwd, check=check)


def run(args: list[str], env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure the assertion shows its output."""
    out = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    if check:
        assert out.returncode == 0, f"{' '.join(map(str, args))} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return out
