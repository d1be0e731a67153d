"""``./dev install``: Debian packages, uv, the Python environment and the Kafka jars; only what is
missing."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .common import REPO, StackError, file_lock, rel, run, say

APT_PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (package to install, packages any of which satisfies the need)
    ("postgresql", ("postgresql",)),
    ("softhsm2", ("softhsm2",)),
    ("nginx-light", ("nginx-light", "nginx", "nginx-core", "nginx-full", "nginx-extras")),
    ("fonts-noto-cjk", ("fonts-noto-cjk",)),
    ("opensc", ("opensc",)),
    ("docker-compose", ("docker-compose", "docker-compose-plugin")),
    ("openssl", ("openssl",)),
    # the metrics store of the local stack (scripts/devstack/prometheus.py); promtool with it
    ("prometheus", ("prometheus",)),
    # pdftoppm / pdftotext: the print tests render page 1 to PNG and read its text (issue 13)
    ("poppler-utils", ("poppler-utils",)),
    # zbarimg: the license test decodes the QR code of the printed license (issue 13, item 19)
    ("zbar-tools", ("zbar-tools",)),
)

APT_COMMANDS = (
    ("java", "openjdk-17-jre-headless"),
    ("mvn", "maven"),
    ("node", "nodejs"),
    ("npm", "npm"),
    # the console's browser tests drive Debian's Chromium (no test tool downloads a browser)
    ("chromium", "chromium"),
)


def pg_bindir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = []
    if root.is_dir():
        for d in root.iterdir():
            if d.name.isdigit() and (d / "bin" / "initdb").exists():
                versions.append(int(d.name))
    return root / str(max(versions)) / "bin" if versions else None


def softhsm_module() -> Path | None:
    for cand in (
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ):
        if Path(cand).exists():
            return Path(cand)
    for found in Path("/usr/lib").rglob("libsofthsm2.so"):
        return found
    return None


def find_java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java") or "/usr/bin/java"


def install_apt() -> None:
    cp = subprocess.run(
        [
            "dpkg-query",
            "-W",
            "-f=${Package}\t${db:Status-Status}\n",
            *{p for _, alts in APT_PACKAGES for p in alts},
        ],
        capture_output=True,
        text=True,
    )
    installed = {line.split("\t")[0] for line in cp.stdout.splitlines() if line.endswith("\tinstalled")}
    missing = [pkg for pkg, alts in APT_PACKAGES if not installed.intersection(alts)]
    missing += [pkg for cmd, pkg in APT_COMMANDS if not shutil.which(cmd)]
    for pkg, alts in APT_PACKAGES:
        have = sorted(installed.intersection(alts))
        if have:
            say("install", f"{pkg} ... ok" + (f" ({have[0]})" if have[0] != pkg else ""))
    for command, _pkg in APT_COMMANDS:
        if shutil.which(command):
            say("install", f"{command} ... ok")
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise StackError(
            "missing Debian packages: " + " ".join(missing) + "\n"
            "Install them as root, then run ./dev again:\n"
            f"  sudo apt-get update && sudo {shlex.join(cmd)}"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    say("install", "apt-get update ...")
    run(["apt-get", "update"], env=env)
    say("install", f"apt-get install {' '.join(missing)} ...")
    run(cmd, env=env)
    for pkg in missing:
        say("install", f"{pkg} ... installed")


def find_uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    import sysconfig

    cands = [
        Path(sysconfig.get_path("scripts", "posix_user")) / "uv",
        Path.home() / ".local" / "bin" / "uv",
        Path.home() / ".cargo" / "bin" / "uv",
    ]
    for c in cands:
        if c.exists():
            return str(c)
    return None


def install_uv() -> str:
    uv = find_uv()
    if uv:
        say("install", f"uv ... ok ({uv})")
        return uv
    py = sys.executable or "python3"
    if subprocess.run([py, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        if os.geteuid() != 0:
            raise StackError(
                "uv is not installed and pip is missing: install uv "
                "(python3 -m pip install --user uv) and run ./dev again"
            )
        say("install", "python3-pip (to install uv) ...")
        run(
            ["apt-get", "install", "-y", "--no-install-recommends", "python3-pip"],
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )
    say("install", "uv (pip install uv) ...")
    attempts = (
        [py, "-m", "pip", "install", "uv"],
        [py, "-m", "pip", "install", "--user", "uv"],
        [py, "-m", "pip", "install", "--user", "--break-system-packages", "uv"],
    )
    last = ""
    for cmd in attempts:
        cp = subprocess.run(cmd, capture_output=True, text=True)
        uv = find_uv()
        if cp.returncode == 0 and uv:
            say("install", f"uv ... installed ({uv})")
            return uv
        last = (cp.stdout + cp.stderr).strip()[-2000:]
    raise StackError(f"could not install uv with pip:\n{last}")


def install_venv(uv: str) -> None:
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    cp = subprocess.run([uv, "sync", "--locked"], cwd=REPO, capture_output=True, text=True, env=env)
    if cp.returncode != 0:
        out = (cp.stdout + cp.stderr).strip()
        hint = ""
        if "lockfile" in out.lower() and (
            "update" in out.lower() or "outdated" in out.lower() or "needs to be updated" in out.lower()
        ):
            hint = "\nuv.lock is out of date with pyproject.toml: run `uv lock` and commit uv.lock."
        raise StackError(f"`uv sync --locked` failed:\n{out}{hint}")
    say("install", "python environment (uv sync --locked) ... ok")


def kafka_version() -> str:
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom)
    if not m:
        raise StackError("deploy/kafka/pom.xml has no <kafka.version> property")
    return m.group(1)


def kafka_libs() -> Path:
    return Path.home() / ".cache" / "ail" / f"kafka-{kafka_version()}" / "libs"


def install_kafka_jars() -> None:
    pom = REPO / "deploy" / "kafka" / "pom.xml"
    libs = kafka_libs()
    marker = libs.parent / ".complete"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    version = kafka_version()
    with file_lock(libs.parent.parent / f"kafka-{version}.lock", f"the Kafka {version} jars"):
        if marker.exists() and marker.read_text().strip() == digest and libs.is_dir():
            say("install", f"kafka {version} jars ... ok ({rel(libs)})")
            return
        if not shutil.which("mvn"):
            raise StackError("Maven (mvn) is needed to fetch the Kafka jars: apt-get install maven")
        say("install", f"kafka {version} jars (mvn dependency:copy-dependencies) ...")
        tmp = libs.parent / "libs.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp}",
            ],
            timeout=900,
        )
        if not any(tmp.glob("kafka_2.13-*.jar")):
            raise StackError(f"mvn finished but {tmp} has no kafka_2.13 jar")
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        marker.write_text(digest + "\n")
        say("install", f"kafka {version} jars ... ok ({len(list(libs.glob('*.jar')))} jars)")


def kafka_tools_libs() -> Path:
    return Path.home() / ".cache" / "ail" / f"kafka-{kafka_version()}" / "tools-libs"


def install_kafka_tools() -> None:
    """The Kafka command-line tools (the kafka-tools jar and its dependencies, from Maven
    Central by deploy/kafka/tools-pom.xml) for ``./dev kafka-groups``; beside the broker's jars,
    with a marker of their own, so the broker's jars are never fetched again for them."""
    pom = REPO / "deploy" / "kafka" / "tools-pom.xml"
    libs = kafka_tools_libs()
    marker = libs.parent / ".tools-complete"
    version = kafka_version()
    digest = hashlib.sha256(pom.read_bytes() + version.encode()).hexdigest()
    with file_lock(libs.parent.parent / f"kafka-{version}-tools.lock", f"the Kafka {version} tools"):
        if marker.exists() and marker.read_text().strip() == digest and libs.is_dir():
            say("install", f"kafka {version} tools ... ok ({rel(libs)})")
            return
        if not shutil.which("mvn"):
            raise StackError("Maven (mvn) is needed to fetch the Kafka tools: apt-get install maven")
        say("install", f"kafka {version} tools (mvn dependency:copy-dependencies) ...")
        tmp = libs.parent / "tools-libs.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-Dkafka.version={version}",
                f"-DoutputDirectory={tmp}",
            ],
            timeout=900,
        )
        if not any(tmp.glob("kafka-tools-*.jar")):
            raise StackError(f"mvn finished but {tmp} has no kafka-tools jar")
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        marker.write_text(digest + "\n")
        say("install", f"kafka {version} tools ... ok ({len(list(libs.glob('*.jar')))} jars)")


def install_node_tools() -> None:
    """The pinned npm tools of the project (tools/*/package-lock.json, e.g. the AsyncAPI parser
    the tests validate docs/asyncapi.json with): ``npm ci`` when node_modules is missing or older
    than its lock file."""
    for lock in sorted((REPO / "tools").glob("*/package-lock.json")):
        if not _npm_ci(lock.parent):
            say("install", f"{rel(lock.parent)} node modules ... ok")


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise StackError("npm is missing: apt-get install npm, then run ./dev again")
    return npm


def _npm_ci(folder: Path, env: dict[str, str] | None = None) -> bool:
    """``npm ci`` in ``folder`` when its node_modules is missing or older than its lock file (npm
    writes node_modules/.package-lock.json at the end of an install). True when it ran."""
    stamp = folder / "node_modules" / ".package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= (folder / "package-lock.json").stat().st_mtime:
        return False
    say("install", f"npm ci in {rel(folder)} ...")
    run([_npm(), "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=folder, env=env)
    return True


CONSOLE = REPO / "console"
CONSOLE_INPUTS = ("src", "index.html", "package-lock.json", "vite.config.ts", "tsconfig.json")


def _newest(paths: list[Path]) -> float:
    return max(
        (f.stat().st_mtime for p in paths for f in ([p] if p.is_file() else p.rglob("*"))), default=0.0
    )


def install_console() -> None:
    """The console (console/): ``npm ci`` when node_modules is older than the lock file, then
    ``vite build`` into console/dist when any source is newer than the build (skipped when
    current: a build takes a minute or more on a loaded machine). nginx serves the build at /."""
    if not (CONSOLE / "package-lock.json").exists():
        return
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    _npm_ci(CONSOLE, env)
    built = CONSOLE / "dist" / "index.html"
    if built.exists() and built.stat().st_mtime >= _newest([CONSOLE / p for p in CONSOLE_INPUTS]):
        say("install", "console build ... ok (current)")
        return
    say("install", "building the console (vite build) ...")
    run([_npm(), "run", "build"], cwd=CONSOLE, env=env, timeout=900)


def cmd_install() -> None:
    t0 = time.monotonic()
    install_apt()
    uv = install_uv()
    install_venv(uv)
    install_kafka_jars()
    install_kafka_tools()
    install_node_tools()
    install_console()
    say("install", f"done in {time.monotonic() - t0:.1f}s")
