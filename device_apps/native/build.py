"""Build the native runner for x86_64 (tests, perf) and aarch64 (the phone bundle), cached by content.

    python device_apps/native/build.py [--arch x86_64|aarch64|all] [--fetch]

One script for `nox -s native`, the tests' session fixture and the Android backend (which only looks a
bundle up: `bundle_dir(arch)`; it never builds or downloads). A build lives in
`<native dir>/<key>/<arch>/` (`cache_dir()`), where the key hashes the C sources, this file, the compiler's version
and the pinned LiteRT library, so an unchanged tree reuses its build and a changed one never sees a stale
binary. Each build directory holds `MANIFEST.json` (sha256 of every file, and the bundle's digest) and
`LICENSES/` for the third-party parts it carries.

x86_64 links the libLiteRt.so of the installed `ai-edge-litert` wheel. aarch64 links the same version's
manylinux_2_27_aarch64 wheel, fetched with pip into `<native dir>/wheels/` by `--fetch` (the build step,
never the harness or a test), with Debian's `gcc-aarch64-linux-gnu`; the bundle carries Debian's aarch64
loader, libc, libm, libstdc++ and libgcc_s so it starts on a phone as
`./ld-linux-aarch64.so.1 --library-path . ./runner JOB.json`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["ARCHES", "BuildError", "build", "bundle_dir", "cache_dir", "fetch_wheel", "litert_version", "qemu_prefix",
           "runner_command"]

HERE = Path(__file__).resolve().parent
SOURCES = sorted((HERE / "src").glob("*.[ch]"))
ARCHES = ("x86_64", "aarch64")
AARCH64_SYSROOT = Path("/usr/aarch64-linux-gnu/lib")
# What the aarch64 bundle carries beside the runner (libLiteRt.so's NEEDED list, resolved in Debian's
# cross sysroot; libdl/libpthread/librt are glibc 2.34+ stubs but still named by the library).
AARCH64_LIBS = ("ld-linux-aarch64.so.1", "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                "libstdc++.so.6", "libgcc_s.so.1")
LICENSE_SOURCES = {  # bundled part -> its license text on this machine
    "LiteRT-Apache-2.0.txt": None,  # from the wheel's dist-info
    "glibc-LGPL-2.1.copyright": Path("/usr/share/doc/libc6-arm64-cross/copyright"),
    "libstdc++-GPL-3-runtime-exception.copyright": Path("/usr/share/doc/libstdc++6-arm64-cross/copyright"),
    "libgcc-GPL-3-runtime-exception.copyright": Path("/usr/share/doc/libgcc-s1-arm64-cross/copyright"),
}
COMPILERS = {"x86_64": "gcc", "aarch64": "aarch64-linux-gnu-gcc"}
CFLAGS = ("-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing")


class BuildError(RuntimeError):
    """A build step failed; the message says which and what to install."""


def cache_dir() -> Path:
    """`$HARNESS_NATIVE_DIR`, else the repository's `.nox/native-builds` (git-ignored, beside nox's virtualenvs):
    build products and their fetched wheel, shared by nox sessions, tests and the harness, unlike the
    per-session artifact cache the tests isolate."""
    explicit = os.environ.get("HARNESS_NATIVE_DIR")
    return Path(explicit) if explicit else HERE.parent.parent / ".nox" / "native-builds"


def litert_version() -> str:
    """The installed ai-edge-litert version (the project pins it; the aarch64 wheel must be the same)."""
    return importlib.metadata.version("ai-edge-litert")


def _installed_litert() -> Path:
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("ai-edge-litert is not installed in this interpreter")
    return Path(next(iter(spec.submodule_search_locations)))


def _wheel_path(version: str) -> Path | None:
    found = sorted((cache_dir() / "wheels").glob(f"ai_edge_litert-{version}-*aarch64*.whl"))
    return found[-1] if found else None


def fetch_wheel(version: str | None = None) -> Path:
    """The pinned aarch64 wheel, downloaded with pip once (the build step's only network use)."""
    version = version or litert_version()
    wheel = _wheel_path(version)
    if wheel is not None:
        return wheel
    target = cache_dir() / "wheels"
    target.mkdir(parents=True, exist_ok=True)
    # manylinux2014_aarch64 alone finds nothing: the wheel is tagged manylinux_2_27.
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--platform", "manylinux_2_27_aarch64", "--python-version", "3.11", "--dest", str(target),
                    f"ai-edge-litert=={version}"], check=True)
    wheel = _wheel_path(version)
    if wheel is None:
        raise BuildError(f"pip fetched no aarch64 wheel of ai-edge-litert {version}")
    return wheel


def _litert_library(arch: str, version: str, into: Path) -> Path:
    """libLiteRt.so of `arch` copied to `into`; the aarch64 one from the fetched wheel."""
    target = into / "libLiteRt.so"
    if arch == "x86_64":
        shutil.copyfile(_installed_litert() / "libLiteRt.so", target)
        return target
    wheel = _wheel_path(version)
    if wheel is None:
        raise BuildError(f"no aarch64 ai-edge-litert {version} wheel in {cache_dir() / 'wheels'}: "
                         "run `nox -s native` (or build.py --fetch) first")
    with zipfile.ZipFile(wheel) as z, z.open("ai_edge_litert/libLiteRt.so") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def _compiler_version(arch: str) -> str:
    compiler = shutil.which(COMPILERS[arch])
    if compiler is None:
        package = "gcc" if arch == "x86_64" else "gcc-aarch64-linux-gnu libc6-arm64-cross libstdc++6-arm64-cross"
        raise BuildError(f"{COMPILERS[arch]} not found: apt-get install {package}")
    return subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]


def _key(arch: str, version: str, library_digest: str) -> str:
    digest = hashlib.sha256()
    for path in [*SOURCES, Path(__file__).resolve()]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(f"{arch}\0{version}\0{library_digest}\0{_compiler_version(arch)}\0{CFLAGS}".encode())
    return digest.hexdigest()[:16]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _library_digest(arch: str, version: str) -> str:
    if arch == "x86_64":
        return _sha256(_installed_litert() / "libLiteRt.so")
    wheel = _wheel_path(version)
    if wheel is None:
        raise BuildError(f"no aarch64 ai-edge-litert {version} wheel in {cache_dir() / 'wheels'}: "
                         "run `nox -s native` (or build.py --fetch) first")
    return _sha256(wheel)


def bundle_dir(arch: str) -> Path | None:
    """The current build of `arch` if it exists (nothing is built or fetched here)."""
    version = litert_version()
    try:
        key = _key(arch, version, _library_digest(arch, version))
    except BuildError:
        return None
    path = cache_dir() / key / arch
    return path if (path / "MANIFEST.json").is_file() else None


def _licenses(into: Path, arch: str) -> None:
    folder = into / "LICENSES"
    folder.mkdir()
    dist_info = _installed_litert().parent / f"ai_edge_litert-{litert_version()}.dist-info"
    shutil.copyfile(dist_info / "licenses" / "LICENSE", folder / "LiteRT-Apache-2.0.txt")
    if arch == "aarch64":
        for name, source in LICENSE_SOURCES.items():
            if source is not None:
                shutil.copyfile(source, folder / name)
    (folder / "README").write_text(
        "Third-party parts of this bundle and their licenses:\n"
        "- libLiteRt.so: LiteRT (ai-edge-litert wheel), Apache License 2.0 (LiteRT-Apache-2.0.txt).\n"
        + ("- ld-linux-aarch64.so.1, libc.so.6, libm.so.6, libdl.so.2, libpthread.so.0, librt.so.1: GNU C Library\n"
           "  (Debian libc6-arm64-cross), LGPL-2.1-or-later (glibc-LGPL-2.1.copyright). Its source is Debian's\n"
           "  glibc source package of the version in that file; replace these files to relink.\n"
           "- libstdc++.so.6, libgcc_s.so.1: GCC runtime libraries (Debian libstdc++6-arm64-cross,\n"
           "  libgcc-s1-arm64-cross), GPL-3.0-or-later with the GCC Runtime Library Exception 3.1.\n"
           if arch == "aarch64" else "")
        + "- runner: this project's code.\n")


def _manifest(into: Path, arch: str, version: str) -> dict:
    files = {p.relative_to(into).as_posix(): _sha256(p) for p in sorted(into.rglob("*")) if p.is_file()}
    digest = hashlib.sha256("".join(f"{name}\0{sha}\n" for name, sha in files.items()).encode()).hexdigest()
    manifest = {"version": 1, "arch": arch, "litert": version, "files": files, "digest": digest}
    (into / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def build(arch: str) -> Path:
    """Build `arch` unless its current build exists; the build directory."""
    if arch not in ARCHES:
        raise BuildError(f"arch must be one of {', '.join(ARCHES)}, not {arch!r}")
    version = litert_version()
    key = _key(arch, version, _library_digest(arch, version))
    final = cache_dir() / key / arch
    if (final / "MANIFEST.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{arch}-", dir=final.parent))
    try:
        library = _litert_library(arch, version, work)
        from harness import __version__

        command = [COMPILERS[arch], *CFLAGS, f'-DRUNNER_VERSION="{__version__}"', *map(str, SOURCES),
                   "-o", str(work / "runner"), str(library), "-Wl,-rpath,$ORIGIN", "-lm"]
        if arch == "aarch64":
            command.append(f"-Wl,-rpath-link,{AARCH64_SYSROOT}")
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"compiling the {arch} runner failed:\n{result.stderr[-3000:]}")
        if arch == "aarch64":
            for name in AARCH64_LIBS:
                shutil.copyfile((AARCH64_SYSROOT / name).resolve(), work / name)
                (work / name).chmod(0o755)
        _licenses(work, arch)
        _manifest(work, arch, version)
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return final


def qemu_prefix(root: Path, cpuinfo: Path) -> Path:
    """`root` as a qemu-user prefix (`-L`) whose proc/cpuinfo is the aarch64 text `cpuinfo`.

    qemu-user resolves a guest's absolute paths under the prefix first, /proc/cpuinfo included:
    XNNPACK (inside libLiteRt.so) then reads an aarch64 cpuinfo instead of the host's x86 one, on which
    it crashes in LiteRtCreateCompiledModel. The same as bind-mounting it over /proc/cpuinfo in a private
    mount namespace (`unshare -m`), without needing root.
    """
    (root / "proc").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cpuinfo, root / "proc" / "cpuinfo")
    return root


def runner_command(arch: str, bundle: Path, job: str, prefix: Path | None = None) -> list[str]:
    """The argv that runs `bundle`'s runner on `job` here: natively, or the aarch64 bundle under qemu-user
    started the way a phone starts it (its own loader, `--library-path`)."""
    if arch == "x86_64":
        return [str(bundle / "runner"), job]
    if prefix is None:
        raise BuildError("the aarch64 runner needs a qemu prefix with an aarch64 proc/cpuinfo (qemu_prefix)")
    qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if qemu is None:
        raise BuildError("qemu-aarch64 not found: apt-get install qemu-user")
    return [qemu, "-L", str(prefix), str(bundle / "ld-linux-aarch64.so.1"), "--library-path", str(bundle),
            str(bundle / "runner"), job]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=[*ARCHES, "all"], default="all")
    parser.add_argument("--fetch", action="store_true", help="download the pinned aarch64 wheel if it is missing")
    args = parser.parse_args(argv)
    arches = ARCHES if args.arch == "all" else (args.arch,)
    if args.fetch and "aarch64" in arches:
        fetch_wheel()
    try:
        for arch in arches:
            path = build(arch)
            digest = json.loads((path / "MANIFEST.json").read_text())["digest"]
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            print(f"native runner {arch}: {path} ({size / 1e6:.1f} MB, digest {digest[:12]})")
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
