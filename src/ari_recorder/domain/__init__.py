"""The rules, pure: ids, policy, call state and actions. Nothing here does I/O."""
