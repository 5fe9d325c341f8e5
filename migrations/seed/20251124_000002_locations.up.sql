-- Data in the format pg_dump writes: COPY ... FROM stdin, tab-separated, ended by \.
COPY master.locations (city, country) FROM stdin;
Lagos	NG
Nairobi	KE
São Paulo	BR
Zürich	CH
\.

