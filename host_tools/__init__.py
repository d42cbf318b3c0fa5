"""retrostep host tools: replay, evaluate, simulate, deploy, sync, report."""
