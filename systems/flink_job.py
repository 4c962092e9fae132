"""Run the streaming word count on a local Flink mini-cluster; print its metrics as one JSON line.

Usage: python flink_job.py SETTINGS_JSON RECORDS. Run by systems/flink.py with the Flink virtual
environment's python (PyFlink cannot share Tradeoff's environment); SETTINGS_JSON maps Flink
configuration keys to values. Two jobs run in this one process: first a latency phase at a low
rate, which also warms the JVM, then the throughput phase with RECORDS words flat out.
"""

import json
import statistics
import sys

from pyflink.common import Configuration, RowKind
from pyflink.table import EnvironmentSettings, TableEnvironment

VOCABULARY = 10_000
LATENCY_RATE, LATENCY_SECONDS = 200, 2


def create_source(table_env: TableEnvironment, name: str, rows: int, rate: int) -> None:
    """A bounded datagen stream of word ids; its rate limit emits each second's rows at once."""
    table_env.execute_sql(f"""
        CREATE TEMPORARY TABLE {name} (k INT) WITH (
            'connector' = 'datagen', 'number-of-rows' = '{rows}', 'rows-per-second' = '{rate}',
            'fields.k.min' = '1', 'fields.k.max' = '{VOCABULARY}')""")


def latency_ms(table_env: TableEnvironment) -> float:
    """Median ms from a word's creation to its updated count leaving the aggregation.

    CURRENT_TIMESTAMP is evaluated per record in streaming mode: once in the source's projection
    and once after the keyed shuffle and the aggregation, so buffering, mini-batches and state
    access all lie between the two stamps.
    """
    create_source(table_env, "slow_words", LATENCY_RATE * LATENCY_SECONDS, LATENCY_RATE)
    table = table_env.sql_query("""
        SELECT born, CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)) AS counted FROM (
            SELECT word, COUNT(*) AS n, MAX(born) AS born FROM (
                SELECT CONCAT('w', CAST(k AS STRING)) AS word, CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)) AS born FROM slow_words)
            GROUP BY word)""")
    delays = []
    with table.execute().collect() as rows:
        for row in rows:
            if row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                delays.append((row[1] - row[0]).total_seconds() * 1000)
    return statistics.median(delays)


def throughput(table_env: TableEnvironment, records: int) -> float:
    """Records per second of net job runtime, counting every word into a blackhole sink."""
    create_source(table_env, "words", records, 1_000_000_000)
    table_env.execute_sql("CREATE TEMPORARY TABLE counts (word STRING, n BIGINT) WITH ('connector' = 'blackhole')")
    result = table_env.execute_sql("""
        INSERT INTO counts SELECT word, COUNT(*) FROM (
            SELECT CONCAT('w', CAST(k AS STRING)) AS word FROM words) GROUP BY word""")
    runtime_ms = result.get_job_client().get_job_execution_result().result().get_net_runtime()
    return records / (runtime_ms / 1000)


def main() -> None:
    settings, records = json.loads(sys.argv[1]), int(sys.argv[2])
    config = Configuration()
    for key, value in settings.items():
        config.set_string(key, value)
    table_env = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(config).build())
    latency = latency_ms(table_env)
    print(json.dumps({"throughput": throughput(table_env, records), "latency": latency}))


if __name__ == "__main__":
    main()
