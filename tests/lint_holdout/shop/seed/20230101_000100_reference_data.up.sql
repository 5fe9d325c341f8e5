-- Reference data, loaded the way pg_dump --data-only writes it.
COPY {{ schema | ident }}.countries (code, name) FROM stdin;
CI	Côte d'Ivoire
JP	日本
XX	CREATE INDEX bad ON x (y); -- not SQL, a row
YY	$$ dollar; \\ backslash \t tab
ZZ	Nowhere
\.

INSERT INTO {{ schema | ident }}.products (sku, title, price_cents) VALUES
    ('kaffe-500', 'Kaffe – 500 g', 1290),
    ('tè-verde', 'Tè verde ''Sencha''', 890)
ON CONFLICT DO NOTHING;
