"""CSV and XLSX imports: files.py reads, mapping.py maps columns to fields,
pipeline.py writes at COPY speed, jobs.py queues, runs and reports."""
