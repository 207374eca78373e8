# Sourced by scripts/conformance, conformance-gateway and conformance-client: the verdict of one
# run of the official conformance suite, read from its own output.
#
# suite_verdict NAME LOGFILE RC appends NAME's summary line to the array `totals` and sets
# `status=1` when the run failed. Uses `suite_timeout` (seconds) to name a timeout.
suite_verdict() {
  local name="$1" logfile="$2" rc="$3" total
  total="$(grep -E '^Total: ' "$logfile" | tail -n 1 || true)"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    total="${total:-Total: (none)} [timed out after ${suite_timeout}s]"
  fi
  totals+=("$name: ${total:-Total: (no summary; see $logfile)} (exit $rc)")
  if [ "$rc" != 0 ]; then
    status=1
  fi
  # Every baseline is empty, so any failed check fails the run, whatever the suite's exit
  # status says (0.2.0-alpha.12 once exited 0 with a failed check and an empty baseline).
  if [[ "$total" =~ ([0-9]+)\ failed ]] && [ "${BASH_REMATCH[1]}" != 0 ]; then
    status=1
  fi
}
