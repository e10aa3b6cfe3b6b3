"""`scripts/setup` on fake machines: every decision it makes about what to install.

Each test runs the real script with FULCRUM_SETUP_ROOT pointing at a fake filesystem root and a
PATH that holds only stand-in commands written here (cargo, rustc, dpkg-query, python3, apt-get,
…), so what is "installed" is exactly what the test says, whatever this machine has.
"""
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup"
REQUIRED_RUST = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]


class FakeMachine:
    """A root directory and a bin directory of stand-in commands, both under `tmp`."""

    def __init__(self, tmp: Path):
        self.root = tmp / "root"
        self.bin = tmp / "bin"
        self.apt_log = tmp / "apt-get.log"
        self.root.mkdir()
        self.bin.mkdir()
        self.dpkg_installed: set[str] = set()
        self.python_modules = {"pip", "venv", "ensurepip"}
        self.env_extra: dict[str, str] = {}
        # A machine that has everything, as the default; each test takes away what it checks.
        self.command("cargo", "exit 0")
        self.rustc("1.95.0")
        for tool in ("cmake", "c++", "pdftoppm", "openssl", "chromium"):
            self.command(tool, "exit 0")
        self.file("usr/lib/llvm-14/lib/libclang.so.1")
        self.file("usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
        self.file("usr/lib/postgresql/15/bin/initdb")
        self.command("sudo", 'exec "$@"')
        # apt-get records what it was asked; `install` creates what each package would.
        self.apt_creates: dict[str, str] = {}
        self.apt_get_records_only()

    def command(self, name: str, body: str):
        path = self.bin / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)

    def remove(self, name: str):
        (self.bin / name).unlink()

    def file(self, relative: str):
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    def rustc(self, version: str):
        self.command("rustc", f'echo "rustc {version} (0000000 2026-01-01)"')

    def apt_get_records_only(self):
        # Bash builtins only: the PATH holds nothing else.
        self.command("apt-get", f'echo "$*" >> "{self.apt_log}"')

    def apt_get_installs(self, creates: dict[str, str]):
        """apt-get `install P…` creates, for each P, the file `creates[P]` under the fake root."""
        cases = "\n".join(
            f'    {package}) : > "{self.root / target}" ;;' for package, target in creates.items()
        )
        self.command(
            "apt-get",
            f'echo "$*" >> "{self.apt_log}"\n'
            f'[[ $1 == install ]] || exit 0\n'
            f'for p in "$@"; do case "$p" in\n{cases}\n  esac; done',
        )

    def write_python(self):
        modules = " ".join(sorted(self.python_modules))
        # `python3 -m pip --version` and `python3 -c 'import ensurepip, venv'`.
        self.command(
            "python3",
            f'have=" {modules} "\n'
            'if [[ $1 == -m ]]; then [[ $have == *" $2 "* ]]; exit; fi\n'
            'if [[ $1 == -c ]]; then for m in ensurepip venv; do [[ $have == *" $m "* ]] || exit 1; done; exit 0; fi\n'
            'exit 0',
        )

    def write_dpkg(self):
        installed = " ".join(sorted(self.dpkg_installed))
        self.command(
            "dpkg-query",
            f'have=" {installed} "\n'
            'package="${@: -1}"\n'
            'if [[ $have == *" $package "* ]]; then printf "install ok installed"; exit 0; fi\n'
            'echo "dpkg-query: no packages found matching $package" >&2; exit 1',
        )

    def run(self, *args: str) -> subprocess.CompletedProcess:
        self.write_python()
        self.write_dpkg()
        env = {"PATH": str(self.bin), "FULCRUM_SETUP_ROOT": str(self.root), "HOME": str(self.root)}
        env.update(self.env_extra)
        return subprocess.run(
            ["/bin/bash", str(SETUP), *args], env=env, capture_output=True, text=True, timeout=60
        )

    def apt_calls(self) -> list[str]:
        return self.apt_log.read_text().splitlines() if self.apt_log.exists() else []


def would_install(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    prefix = "setup: would install "
    return [line[len(prefix):].split(":")[0] for line in result.stdout.splitlines() if line.startswith(prefix)]


@pytest.fixture
def machine(tmp_path) -> FakeMachine:
    return FakeMachine(tmp_path)


def test_a_complete_machine_needs_nothing(machine):
    result = machine.run("--dry-run", "--test")
    assert would_install(result) == []
    assert "nothing to install" in result.stdout


def test_libclang_cpp_is_not_libclang(machine):
    """The fresh Debian image: libclang-cpp14 ships libclang-cpp.so.14, and bindgen cannot use it."""
    (machine.root / "usr/lib/llvm-14/lib/libclang.so.1").unlink()
    machine.file("usr/lib/llvm-14/lib/libclang-cpp.so.14")
    machine.file("usr/lib/x86_64-linux-gnu/libclang-cpp.so.14")
    machine.dpkg_installed = {"libclang-cpp14"}
    result = machine.run("--dry-run")
    assert would_install(result) == ["libclang-dev"]
    assert "bindgen" in result.stdout, "each missing package says what it is for"


@pytest.mark.parametrize(
    "library",
    [
        "usr/lib/llvm-14/lib/libclang.so",
        "usr/lib/x86_64-linux-gnu/libclang-14.so.1",
        "usr/lib/x86_64-linux-gnu/libclang-14.so.14.0.6",
        "usr/lib64/libclang.so.17",
    ],
)
def test_each_name_bindgen_loads_counts_as_libclang(machine, library):
    (machine.root / "usr/lib/llvm-14/lib/libclang.so.1").unlink()
    machine.file(library)
    assert would_install(machine.run("--dry-run")) == []


def test_libclang_in_libclang_path_counts(machine, tmp_path):
    (machine.root / "usr/lib/llvm-14/lib/libclang.so.1").unlink()
    custom = tmp_path / "custom-llvm"
    custom.mkdir()
    (custom / "libclang-18.so.18").write_bytes(b"")
    machine.env_extra["LIBCLANG_PATH"] = str(custom)
    assert would_install(machine.run("--dry-run")) == []


def test_the_package_manager_saying_installed_is_enough(machine):
    (machine.root / "usr/lib/llvm-14/lib/libclang.so.1").unlink()
    machine.remove("cmake")
    machine.dpkg_installed = {"libclang-dev", "cmake"}
    assert would_install(machine.run("--dry-run")) == []


@pytest.mark.parametrize(
    ("take_away", "package"),
    [
        (lambda m: m.remove("cmake"), "cmake"),
        (lambda m: m.remove("c++"), "g++"),
        (lambda m: m.remove("pdftoppm"), "poppler-utils"),
        (lambda m: (m.root / "usr/share/fonts/truetype/wqy/wqy-microhei.ttc").unlink(), "fonts-wqy-microhei"),
        (lambda m: m.python_modules.discard("pip"), "python3-pip"),
    ],
)
def test_each_missing_piece_names_its_package(machine, take_away, package):
    take_away(machine)
    result = machine.run("--dry-run")
    assert would_install(result) == [package]
    assert machine.apt_calls() == [], "a dry run installs nothing"


def test_venv_is_needed_for_the_tests_only(machine):
    """Debian's python3 has no ensurepip without python3-venv, and `python3 -m venv` then fails."""
    machine.python_modules.discard("ensurepip")
    assert would_install(machine.run("--dry-run")) == []
    assert would_install(machine.run("--dry-run", "--test")) == ["python3-venv"]


def test_postgresql_is_needed_for_the_tests_only(machine):
    """The tests run Fulcrum's shared state on a PostgreSQL cluster they start themselves."""
    (machine.root / "usr/lib/postgresql/15/bin/initdb").unlink()
    assert would_install(machine.run("--dry-run")) == []
    assert would_install(machine.run("--dry-run", "--test")) == ["postgresql"]


def test_python_packages_are_judged_by_the_python_on_path_not_by_dpkg(machine):
    """Debian's python3-pip installed does not help a python3 that is not Debian's."""
    machine.python_modules.discard("pip")
    machine.dpkg_installed = {"python3-pip"}
    assert would_install(machine.run("--dry-run")) == ["python3-pip"]


def test_python_missing(machine):
    machine.write_python = lambda: None
    assert would_install(machine.run("--dry-run")) == ["python3", "python3-pip"]


def test_no_cargo_stops_early_and_installs_nothing(machine):
    machine.remove("cargo")
    machine.remove("cmake")
    result = machine.run()
    assert result.returncode == 1
    assert "cargo is missing" in result.stderr and "rustup" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert machine.apt_calls() == []


def test_a_rust_older_than_the_workspace_needs_stops_early(machine):
    major, minor = (int(part) for part in REQUIRED_RUST.split(".")[:2])
    machine.rustc(f"{major}.{minor - 1}.9")
    machine.remove("cmake")
    result = machine.run()
    assert result.returncode == 1
    assert f"older than the {REQUIRED_RUST}" in result.stderr and "rustup update" in result.stderr
    assert machine.apt_calls() == []


def test_the_workspace_rust_version_itself_is_enough(machine):
    machine.rustc(f"{REQUIRED_RUST}.0" if REQUIRED_RUST.count(".") == 1 else REQUIRED_RUST)
    assert machine.run("--dry-run").returncode == 0


def test_installs_exactly_what_is_missing_then_checks_it_arrived(machine):
    (machine.root / "usr/lib/llvm-14/lib/libclang.so.1").unlink()
    machine.file("usr/lib/llvm-14/lib/libclang-cpp.so.14")
    (machine.root / "usr/share/fonts/truetype/wqy/wqy-microhei.ttc").unlink()
    machine.apt_get_installs(
        {
            "libclang-dev": "usr/lib/llvm-14/lib/libclang.so",
            "fonts-wqy-microhei": "usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        }
    )
    result = machine.run()
    assert result.returncode == 0, result.stderr
    calls = machine.apt_calls()
    assert calls[0].startswith("update")
    assert calls[1].split()[-2:] == ["libclang-dev", "fonts-wqy-microhei"]
    assert "installing libclang-dev: libclang for bindgen" in result.stderr


def test_an_install_that_does_not_deliver_is_an_error(machine):
    machine.remove("cmake")
    result = machine.run()
    assert result.returncode == 1
    assert "cmake was installed but is still not found" in result.stderr


def test_a_python_the_debian_package_cannot_help_is_named(machine):
    machine.python_modules.discard("ensurepip")
    result = machine.run("--test")
    assert result.returncode == 1
    assert "python3-venv is installed but" in result.stderr and "/python3 still lacks it" in result.stderr


def test_no_apt_get_says_what_to_install(machine):
    machine.remove("apt-get")
    machine.remove("cmake")
    result = machine.run()
    assert result.returncode == 1
    assert "missing cmake" in result.stderr and "not a Debian/Ubuntu machine" in result.stderr


def test_an_unknown_option_is_refused(machine):
    result = machine.run("--yes")
    assert result.returncode == 2
    assert "unknown option '--yes'" in result.stderr


def test_openssl_is_needed_for_the_tests_only(machine):
    """The HTTPS tool tests make their CA with the openssl command."""
    machine.remove("openssl")
    assert would_install(machine.run("--dry-run")) == []
    assert would_install(machine.run("--dry-run", "--test")) == ["openssl"]


def test_chromium_is_needed_for_the_tests_only(machine):
    """The console's end-to-end tests drive Debian's chromium; serving needs no browser."""
    machine.remove("chromium")
    assert would_install(machine.run("--dry-run")) == []
    assert would_install(machine.run("--dry-run", "--test")) == ["chromium"]
