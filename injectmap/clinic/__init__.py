"""Clinic records: patients, visits, their plans and review outcomes, and the course of treatment across visits.

Sits between teaching and reports: it reads plans, doses and products from planning and never imports the
viewer, reports or any GUI or plotting library.
"""
