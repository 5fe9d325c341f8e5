{% for n in range(3) %}
CREATE TABLE {{ schema }}.part_{{ n }} (id int);
{% endfor %}
SELECT {{ env.APP_ROLE | literal }};
