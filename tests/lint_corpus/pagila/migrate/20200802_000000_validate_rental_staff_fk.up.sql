ALTER TABLE public.rental VALIDATE CONSTRAINT rental_staff_id_fkey;
