#!/usr/bin/env bash
# The privacy test (privacy.sh) with guichetd logging to the journal (no -f, JOURNAL_STREAM
# set): neither the secret code nor the raw number in any journal field. Skipped (77) when
# journald is not running (containers, CI images without systemd).
PRIVACY_JOURNAL=1 exec bash "$(dirname "$0")/privacy.sh"
