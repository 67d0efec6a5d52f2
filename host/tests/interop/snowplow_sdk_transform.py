"""Snowplow's own analytics SDK as a reference: reads enriched TSV lines on stdin and writes, per
line, the SDK's JSON for it (or {"error": ...}). Used by host/tests/integration/python_sdk.rs."""

import json
import sys

from snowplow_analytics_sdk.event_transformer import transform

for line in sys.stdin:
    line = line.rstrip("\n")
    try:
        print(json.dumps(transform(line)))
    except Exception as error:  # the reference's own complaint, reported per line
        print(json.dumps({"error": str(error)}))
