#!/usr/bin/env bash
# Runs once, when the official postgres image initialises an empty data directory
# (/docker-entrypoint-initdb.d). It does what the embedded path does after initdb
# (chatbench/postgres.py EmbeddedCluster._initdb): keep initdb's postgresql.conf and include
# our one postgres/postgresql.conf last, so its settings (pg_stat_statements preloaded, …) win.
# The image sets listen_addresses = '*' in initdb's file; ours leaves the address alone.
echo "include '/etc/postgresql/chatbench.conf'" >> "$PGDATA/postgresql.conf"
