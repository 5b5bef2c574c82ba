"""Supervised services: each ``run_x(..., task_status=...)`` starts when really ready."""
