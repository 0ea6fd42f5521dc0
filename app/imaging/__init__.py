"""Images in and out: decoding uploads with limits, rendering arrays as pictures."""
