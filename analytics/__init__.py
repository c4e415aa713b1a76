"""CrowdTrust analytics engine: ingestion, aggregation, detectors, actions and exports.

Importable without Streamlit; ``python -m analytics`` is the command line.
"""

__version__ = "0.1.0"
