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
#   SIGNPOST_RETENTION_{INTAKE_EVENTS,CHILDREN,ALERTS,REFERRALS,DEAD_LETTERS}_DAYS
#                                   the retention schedule (docs/data-protection.md); the services'
#                                   defaults: 2192 days (6 years) and 30 for dead letters
set -eu

BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
PREFIX="${SIGNPOST_TOPIC_PREFIX:-signpost.}"
PARTITIONS="${SIGNPOST_KAFKA_PARTITIONS:-3}"
REPLICATION="${SIGNPOST_KAFKA_REPLICATION_FACTOR:-1}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
FOREVER="-1"
DAY_MS=86400000
EVENTS_MS=$(( ${SIGNPOST_RETENTION_INTAKE_EVENTS_DAYS:-2192} * DAY_MS ))
CHILDREN_MS=$(( ${SIGNPOST_RETENTION_CHILDREN_DAYS:-2192} * DAY_MS ))
ALERTS_MS=$(( ${SIGNPOST_RETENTION_ALERTS_DAYS:-2192} * DAY_MS ))
REFERRALS_MS=$(( ${SIGNPOST_RETENTION_REFERRALS_DAYS:-2192} * DAY_MS ))
DEAD_LETTERS_MS=$(( ${SIGNPOST_RETENTION_DEAD_LETTERS_DAYS:-30} * DAY_MS ))

if [ "$PARTITIONS" -lt 3 ]; then
  echo "SIGNPOST_KAFKA_PARTITIONS=$PARTITIONS: use at least 3" >&2
  exit 2
fi

# name (without prefix), retention.ms and partitions; keep in step with schemas/topics.py
# (TopicSpec.retention) and services/common/retention.py.
# broker-epoch.v1 holds one record per broker lifetime at offset 0 of its one partition: the
# relays and stage runners compare it to notice a broker that lost everything.
TOPICS="
exclusion-notices.v1 $EVENTS_MS $PARTITIONS
calls.v1 $EVENTS_MS $PARTITIONS
la-return-records.v1 $EVENTS_MS $PARTITIONS
exclusion-cancellations.v1 $EVENTS_MS $PARTITIONS
governing-board-decisions.v1 $EVENTS_MS $PARTITIONS
parent-representations.v1 $EVENTS_MS $PARTITIONS
irp-applications.v1 $EVENTS_MS $PARTITIONS
irp-decisions.v1 $EVENTS_MS $PARTITIONS
education-provisions.v1 $EVENTS_MS $PARTITIONS
alerts.school-suspensions.v1 $EVENTS_MS $PARTITIONS
children.v1 $CHILDREN_MS $PARTITIONS
children.links.v1 $CHILDREN_MS $PARTITIONS
alerts.v1 $ALERTS_MS $PARTITIONS
referrals.v1 $REFERRALS_MS $PARTITIONS
dead-letters.v1 $DEAD_LETTERS_MS $PARTITIONS
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
