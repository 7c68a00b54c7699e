"""agentcost: exact cost tracking for LLM and AI-agent usage.

Only the version lives here: importing the package must stay cheap because
`agentcost --version` and `--help` import it first.
"""

__version__ = "0.1.0"
