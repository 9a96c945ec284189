# Filled in by the annotation issue.
