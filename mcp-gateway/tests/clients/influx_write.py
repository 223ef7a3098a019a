"""Writes to the gateway with an InfluxDB client library from PyPI, as a user
would, and prints what the library saw as one JSON object on stdout.

    influx_write.py v1 <base url> <token> <database> <time ms>
    influx_write.py v2 <base url> <token> <bucket> <time ms>

v1 drives `influxdb` (the 1.x API: ping, CREATE DATABASE, SHOW DATABASES,
write_points); v2 drives `influxdb-client` (the 2.x API, gzip on: ping,
version, health, write). Each also sends one body with a text field, which
the gateway refuses as a partial write, and records how the library
reports it. The integration tests in tests/it/influx_clients.rs run this.
"""

import json
import sys
from urllib.parse import urlparse


def v1(base, token, database, time_ms):
    from influxdb import InfluxDBClient
    from influxdb.exceptions import InfluxDBClientError

    url = urlparse(base)
    # InfluxDB 1.x clients send the token as the password.
    client = InfluxDBClient(
        host=url.hostname,
        port=url.port,
        username="telegraf",
        password=token,
        database=database,
        timeout=30,
    )
    out = {"version": client.ping()}
    client.create_database(database)
    out["databases"] = [d["name"] for d in client.get_list_database()]
    out["written"] = client.write_points(
        [
            {
                "measurement": "py_v1_cpu",
                "tags": {"host": "web1"},
                "fields": {"usage": 12.5, "procs": 42},
                "time": time_ms,
            },
            {
                "measurement": "py_v1_cpu",
                "tags": {"host": "web2"},
                "fields": {"usage": 50.0, "procs": 7},
                "time": time_ms,
            },
        ],
        time_precision="ms",
    )
    try:
        client.write_points(
            [
                {
                    "measurement": "py_v1_cpu",
                    "tags": {"host": "web3"},
                    "fields": {"usage": 99.0, "state": "high"},
                    "time": time_ms,
                }
            ],
            time_precision="ms",
        )
        out["partial"] = None
    except InfluxDBClientError as error:
        out["partial"] = {"status": error.code, "body": json.loads(error.content)}
    try:
        client.query("SELECT * FROM py_v1_cpu")
        out["select"] = None
    except InfluxDBClientError as error:
        out["select"] = {"status": error.code, "body": json.loads(error.content)}
    return out


def v2(base, token, bucket, time_ms):
    from influxdb_client import InfluxDBClient, Point, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS
    from influxdb_client.rest import ApiException

    with InfluxDBClient(url=base, token=token, org="ignored", enable_gzip=True, timeout=30_000) as client:
        health = client.health()
        out = {
            "gzip": client.api_client.configuration.enable_gzip,
            "ping": client.ping(),
            "version": client.version(),
            "health": {
                "name": health.name,
                "status": health.status,
                "message": health.message,
                "version": health.version,
                "commit": health.commit,
            },
        }
        write = client.write_api(write_options=SYNCHRONOUS)
        write.write(
            bucket=bucket,
            write_precision=WritePrecision.MS,
            record=[
                Point("py_v2_mem").tag("host", "web1").field("used", 0.25).time(time_ms, WritePrecision.MS),
                Point("py_v2_mem").tag("host", "web2").field("used", 0.5).time(time_ms, WritePrecision.MS),
            ],
        )
        out["written"] = True
        try:
            write.write(
                bucket=bucket,
                write_precision=WritePrecision.MS,
                record=f'py_v2_mem,host=web3 used=0.75,state="full" {time_ms}',
            )
            out["partial"] = None
        except ApiException as error:
            out["partial"] = {"status": error.status, "body": json.loads(error.body)}
        return out


if __name__ == "__main__":
    api, base, token, database, time_ms = sys.argv[1:6]
    run = {"v1": v1, "v2": v2}[api]
    print(json.dumps(run(base, token, database, int(time_ms))))
