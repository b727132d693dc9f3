"""Capacity planning: demand from rendered workloads, packing onto pools, cost, diff against a git ref."""
