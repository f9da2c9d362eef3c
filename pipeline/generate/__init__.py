"""Dataset generation with a teacher LLM: self-instruct, evol-instruct, orca answers, filters, dedup, judge."""
