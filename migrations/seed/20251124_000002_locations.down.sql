DELETE FROM master.locations
WHERE (city, country) IN (('Lagos', 'NG'), ('Nairobi', 'KE'), ('São Paulo', 'BR'), ('Zürich', 'CH'));
