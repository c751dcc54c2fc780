#!/usr/bin/env python3
"""Structural checks of what an operator installs s3gw with.

- Dockerfile: parsed with dockerfile-parse (no container daemon is needed):
  multi-stage, the build stage builds the s3gw binary --locked, the final
  stage runs as a non-root user with /data as a volume, exposes the S3 and
  ops ports that its environment makes the listeners use, and health-checks
  /health/live on the ops port.
- etc/systemd/s3gw.service: `systemd-analyze verify` with ExecStart pointed
  at the freshly built binary, plus the hardening the docs promise.

Usage: tests/packaging/check.py PATH-TO-s3gw-BINARY
Prints one line per check and `packaging: N passed, M failed`; exit 1 on any
failure.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from dockerfile_parse import DockerfileParser

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")


def dockerfile_checks():
    df = DockerfileParser(path=os.path.join(ROOT, "Dockerfile"))
    instr = df.structure
    froms = [i for i in instr if i["instruction"] == "FROM"]
    check("Dockerfile has a build stage and a runtime stage", len(froms) >= 2, f"{len(froms)} FROM")
    last_from = max(i["startline"] for i in froms)
    final = [i for i in instr if i["startline"] >= last_from]
    build = [i for i in instr if i["startline"] < last_from]
    runs = " ".join(i["value"] for i in build if i["instruction"] == "RUN")
    check("build stage builds s3gw --locked --release",
          all(w in runs for w in ("cargo build", "--locked", "--release", "--bin s3gw")), runs)

    def last(kind):
        vals = [i["value"] for i in final if i["instruction"] == kind]
        return vals[-1] if vals else None

    user = last("USER")
    check("runtime stage runs as a non-root user",
          user is not None and user.split(":")[0] not in ("root", "0"), str(user))
    vol = last("VOLUME") or ""
    check("/data is a volume", "/data" in vol, vol)
    env = " ".join(i["value"] for i in final if i["instruction"] == "ENV")
    ports = {}
    for key in ("SERVER", "OPS"):
        m = re.search(rf"S3GW__{key}__LISTEN=0\.0\.0\.0:(\d+)", env)
        check(f"S3GW__{key}__LISTEN faces the container network", m is not None, env)
        if m:
            ports[key] = m.group(1)
    exposed = set((last("EXPOSE") or "").split())
    check("EXPOSE names the S3 and ops ports", set(ports.values()) <= exposed and ports != {},
          f"exposed {sorted(exposed)}, listeners {ports}")
    env_data = re.search(r"S3GW__EMBEDDED__DATA_DIR=(\S+)", env)
    check("the embedded store's data lives on the volume",
          env_data is not None and env_data.group(1) == "/data", env)
    hc = last("HEALTHCHECK") or ""
    check("HEALTHCHECK calls /health/live on the ops port",
          f":{ports.get('OPS', '?')}/health/live" in hc, hc)
    ep = last("ENTRYPOINT") or ""
    check("ENTRYPOINT is the s3gw binary", "/usr/local/bin/s3gw" in ep, ep)


def systemd_checks(binary):
    unit_src = os.path.join(ROOT, "etc", "systemd", "s3gw.service")
    text = open(unit_src).read()
    for directive in ("DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=s3gw",
                      "Restart=on-failure", "LimitNOFILE=", "NoNewPrivileges=yes"):
        check(f"unit sets {directive}", re.search(rf"^{re.escape(directive)}", text, re.M) is not None)
    analyze = shutil.which("systemd-analyze")
    check("systemd-analyze is installed", analyze is not None, "install the systemd package")
    if analyze is None:
        return
    with tempfile.TemporaryDirectory() as d:
        unit = os.path.join(d, "s3gw.service")
        open(unit, "w").write(text.replace("/usr/local/bin/s3gw", os.path.abspath(binary)))
        p = subprocess.run([analyze, "verify", unit], capture_output=True, text=True)
        # verify also reports on unrelated units of the machine; only lines
        # naming ours count.
        ours = [l for l in (p.stdout + p.stderr).splitlines() if "s3gw.service" in l]
        check("systemd-analyze verify accepts the unit", not ours, "\n".join(ours))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    dockerfile_checks()
    systemd_checks(sys.argv[1])
    failed = results.count(False)
    print(f"packaging: {len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


main()
