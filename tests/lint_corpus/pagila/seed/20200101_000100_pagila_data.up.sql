--
-- PostgreSQL database dump (data only)
--

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

COPY public.language (language_id, name, last_update) FROM stdin;
1	English	2022-02-15 10:02:19+00
2	Italian	2022-02-15 10:02:19+00
3	Japanese	2022-02-15 10:02:19+00
4	Mandarin	2022-02-15 10:02:19+00
5	French	2022-02-15 10:02:19+00
6	German	2022-02-15 10:02:19+00
\.

COPY public.category (category_id, name, last_update) FROM stdin;
1	Action	2022-02-15 10:02:19+00
2	Animation	2022-02-15 10:02:19+00
3	Children	2022-02-15 10:02:19+00
4	Classics	2022-02-15 10:02:19+00
5	Comedy	2022-02-15 10:02:19+00
\.

COPY public.actor (actor_id, first_name, last_name, last_update) FROM stdin;
1	PENELOPE	GUINESS	2022-02-15 09:34:33+00
2	NICK	WAHLBERG	2022-02-15 09:34:33+00
3	ED	CHASE	2022-02-15 09:34:33+00
\.

SELECT pg_catalog.setval('public.language_language_id_seq', 6, true);
SELECT pg_catalog.setval('public.category_category_id_seq', 5, true);
SELECT pg_catalog.setval('public.actor_actor_id_seq', 3, true);
