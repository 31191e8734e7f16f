"""The four Circulo dashboards, one module each, built with grafana-foundation-sdk."""
