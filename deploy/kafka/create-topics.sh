#!/bin/sh
# One-shot topic creation for Signpost on Apache Kafka (the compose service `kafka-init`).
#
# Creates every topic the services use (schemas/topics.py: ALL_TOPICS + DEAD_LETTERS) with
# explicit configs, and leaves existing topics alone (safe to run again). The services also
# create missing topics at start-up with the same settings; creating them here first makes the
# configs explicit and keeps broker-side auto-creation off.
#
# Environment (defaults fit the single-broker compose file):
#   BOOTSTRAP                       kafka:9092
#   SIGNPOST_TOPIC_PREFIX           signpost.
#   SIGNPOST_KAFKA_PARTITIONS       3   (upper bound on workers per consumer group; never below 3)
#   SIGNPOST_KAFKA_REPLICATION_FACTOR 1 (3 on a 3-broker cluster)
#   KAFKA_MIN_INSYNC_REPLICAS       unset = the broker default (2 on a 3-broker cluster)
#   KAFKA_BIN                       /opt/kafka/bin (the apache/kafka image)
set -eu

BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
PREFIX="${SIGNPOST_TOPIC_PREFIX:-signpost.}"
PARTITIONS="${SIGNPOST_KAFKA_PARTITIONS:-3}"
REPLICATION="${SIGNPOST_KAFKA_REPLICATION_FACTOR:-1}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
FOREVER="-1"
THIRTY_DAYS_MS="2592000000"

if [ "$PARTITIONS" -lt 3 ]; then
  echo "SIGNPOST_KAFKA_PARTITIONS=$PARTITIONS: use at least 3" >&2
  exit 2
fi

# name (without prefix), retention.ms and partitions; keep in step with schemas/topics.py.
# broker-epoch.v1 holds one record per broker lifetime at offset 0 of its one partition: the
# relays and stage runners compare it to notice a broker that lost everything.
TOPICS="
exclusion-notices.v1 $FOREVER $PARTITIONS
calls.v1 $FOREVER $PARTITIONS
la-return-records.v1 $FOREVER $PARTITIONS
alerts.school-suspensions.v1 $FOREVER $PARTITIONS
children.v1 $FOREVER $PARTITIONS
children.links.v1 $FOREVER $PARTITIONS
alerts.v1 $FOREVER $PARTITIONS
referrals.v1 $FOREVER $PARTITIONS
dead-letters.v1 $THIRTY_DAYS_MS $PARTITIONS
broker-epoch.v1 $FOREVER 1
"

# wait for the broker (compose waits for its health check too; this covers other callers)
tries=0
until "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "broker $BOOTSTRAP not answering" >&2
    exit 1
  fi
  sleep 2
done

echo "$TOPICS" | while read -r name retention partitions; do
  [ -n "$name" ] || continue
  set -- --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$PREFIX$name" \
    --partitions "$partitions" --replication-factor "$REPLICATION" \
    --config "retention.ms=$retention" --config cleanup.policy=delete
  if [ -n "${KAFKA_MIN_INSYNC_REPLICAS:-}" ]; then
    set -- "$@" --config "min.insync.replicas=$KAFKA_MIN_INSYNC_REPLICAS"
  fi
  "$KAFKA_BIN/kafka-topics.sh" "$@"
  echo "topic $PREFIX$name: partitions=$partitions replication=$REPLICATION retention.ms=$retention"
done

"$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --describe --topics-with-overrides | grep "^Topic: $PREFIX" || true
