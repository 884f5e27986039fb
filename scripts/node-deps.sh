#!/usr/bin/env bash
# Node.js and npm for the pages' GOV.UK Design System assets (services/web/package-lock.json):
# `make run` and `make test` install them from Debian when missing, then run `npm ci` once.
set -euo pipefail
command -v npm >/dev/null && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "installing system packages: nodejs npm"
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
