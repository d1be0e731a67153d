"""SoftHSM2 tokens standing in for the enterprises' USB e-keys."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from .common import StackError, run, say, warn
from .install import softhsm_module
from .table import EKEYS, SO_PIN, USER_PIN, EKey, Stack


def softhsm_env(st: Stack) -> dict[str, str]:
    return dict(os.environ, SOFTHSM2_CONF=str(st.softhsm_conf))


def softhsm_tokens(st: Stack) -> dict[str, str]:
    """label -> serial of the initialised tokens."""
    out = run(["softhsm2-util", "--show-slots"], env=softhsm_env(st)).stdout
    tokens: dict[str, str] = {}
    serial = ""
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Serial number:"):
            serial = line.split(":", 1)[1].strip()
        elif line.startswith("Label:"):
            label = line.split(":", 1)[1].strip()
            if label and serial:
                tokens[label] = serial
            serial = ""
    return tokens


def softhsm_up(st: Stack) -> dict[str, str]:
    module = softhsm_module()
    if module is None:
        raise StackError("libsofthsm2.so not found (run ./dev install)")
    tokendir = st.state / "softhsm" / "tokens"
    tokendir.mkdir(parents=True, exist_ok=True)
    st.softhsm_conf.write_text(
        f"directories.tokendir = {tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    ekeys_dir = st.state / "ekeys"
    ekeys_dir.mkdir(parents=True, exist_ok=True)
    env = softhsm_env(st)
    tokens = softhsm_tokens(st)
    for ek in EKEYS:
        done = ekeys_dir / f"{ek.label}.done"
        if ek.label in tokens and done.exists():
            continue
        if ek.label in tokens:
            warn("softhsm", f"token {ek.label} is incomplete; recreating it")
            run(["softhsm2-util", "--delete-token", "--token", ek.label], env=env)
        make_ekey(ek, ekeys_dir, module, env)
        done.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        say("softhsm", f"token {ek.label} created ({ek.common_name}, O={ek.org_code})")
    tokens = softhsm_tokens(st)
    missing = [ek.label for ek in EKEYS if ek.label not in tokens]
    if missing:
        raise StackError(f"SoftHSM2 tokens missing after setup: {', '.join(missing)}")
    say("softhsm", "tokens " + ", ".join(f"{ek.label} (serial {tokens[ek.label]})" for ek in EKEYS))
    return {ek.label: tokens[ek.label] for ek in EKEYS}


def make_ekey(ek: EKey, ekeys_dir: Path, module: Path, env: dict[str, str]) -> None:
    run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            ek.label,
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ],
        env=env,
    )
    work = ekeys_dir / f".{ek.label}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    try:
        key_pem, cert_pem = work / "key.pem", ekeys_dir / f"{ek.label}.pem"
        subject = f"/CN={ek.common_name}/O={ek.org_code}/serialNumber={ek.org_code}"
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                str(key_pem),
                "-out",
                str(cert_pem),
                "-days",
                "3650",
                "-utf8",
                "-nameopt",
                "utf8",
                "-subj",
                subject,
                "-sha256",
            ]
        )
        run(
            [
                "openssl",
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                str(key_pem),
                "-outform",
                "DER",
                "-out",
                str(work / "key.der"),
            ]
        )
        run(
            [
                "openssl",
                "pkey",
                "-in",
                str(key_pem),
                "-pubout",
                "-outform",
                "DER",
                "-out",
                str(work / "pub.der"),
            ]
        )
        run(["openssl", "x509", "-in", str(cert_pem), "-outform", "DER", "-out", str(work / "cert.der")])
        for kind, fname in (("privkey", "key.der"), ("pubkey", "pub.der"), ("cert", "cert.der")):
            run(
                [
                    "pkcs11-tool",
                    "--module",
                    str(module),
                    "--token-label",
                    ek.label,
                    "--login",
                    "--pin",
                    USER_PIN,
                    "--write-object",
                    str(work / fname),
                    "--type",
                    kind,
                    "--id",
                    "01",
                    "--label",
                    ek.label,
                ],
                env=env,
            )
    finally:
        # The private key lives in the token only, as it would in a USB e-key.
        shutil.rmtree(work, ignore_errors=True)
