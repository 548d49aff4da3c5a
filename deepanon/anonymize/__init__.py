"""Stage 'anonymize': the region to change (masks), how to change it (filters, gan) and the Anonymizer."""
