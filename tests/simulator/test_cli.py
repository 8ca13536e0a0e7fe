"""`python -m entrasim` serves a tenant from the command line until SIGTERM."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx


def test_the_command_line_serves_writes_its_config_and_stops_on_sigterm(tmp_path: Path) -> None:
    ca, config = tmp_path / "ca.pem", tmp_path / "config.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "entrasim", "--users", "40", "--licence", "P1", "--seed", "5",
         "--ca-out", str(ca), "--config-out", str(config)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "counters at" in line:
                break
        settings = json.loads(config.read_text())
        assert settings["ca_bundle"] == str(ca)
        assert settings["client_secret"] not in "".join(lines)
        context = ssl.create_default_context(cafile=str(ca))
        with httpx.Client(verify=context) as client:
            token = client.post(f"{settings['authority_host']}/{settings['tenant_id']}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": settings["client_id"],
                "client_secret": settings["client_secret"], "scope": settings["graph_endpoint"] + "/.default",
            }).json()["access_token"]
            users = client.get(settings["graph_endpoint"] + "/v1.0/users",
                               headers={"Authorization": f"Bearer {token}"}).json()["value"]
            counters = client.get(settings["graph_endpoint"] + "/_sim/counters").json()
        assert len(users) == 40
        assert counters["counters"]["GET /users"]["requests"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
