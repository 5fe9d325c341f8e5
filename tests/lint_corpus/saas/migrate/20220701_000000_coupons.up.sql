CREATE TABLE public.coupons (
    id bigserial PRIMARY KEY,
    code varchar(64) NOT NULL UNIQUE,
    percent_off integer NOT NULL CHECK (percent_off BETWEEN 1 AND 100)
);
ALTER TABLE public.invoices ADD COLUMN coupon_id bigint;
ALTER TABLE public.invoices ADD CONSTRAINT fk_invoices_coupon FOREIGN KEY (coupon_id) REFERENCES public.coupons (id) NOT VALID;
