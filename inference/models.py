# Filled in by the inference issue.
