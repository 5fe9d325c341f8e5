DELETE FROM master.categories WHERE name IN ('E-readers', 'Electronics', 'Books', 'Home & Garden');
