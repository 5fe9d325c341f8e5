-- The two store managers; rerunnable.
INSERT INTO public.staff (staff_id, first_name, last_name, store_id, username)
VALUES (1, 'Mike', 'Hillyer', 1, 'Mike'), (2, 'Jon', 'Stephens', 2, 'Jon')
ON CONFLICT (staff_id) DO UPDATE SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name;
