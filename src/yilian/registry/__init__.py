"""Registry: regions, institutions, departments, practitioners and collaboration agreements."""
