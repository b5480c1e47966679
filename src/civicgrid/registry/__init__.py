"""一标三实: standard addresses, houses, people and organisations, and record linkage."""
