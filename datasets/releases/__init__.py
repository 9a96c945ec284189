"""Building a dataset release: balancing, leakage-free stratified splits, augmentation of train copies."""
