"""The 16 regional councils of the Order since the PACTE law (docs/domain.md): the seed of the
`regional_councils` table, inserted by migration 0003 and, for schemas made with create_all
(tests), by an after_create hook. Codes are ours (`registry-import --council`).

Contact details are what the councils publish; a council corrects its own row with
`idp registry council-update` (a data change, not a code change). Changing the list of
councils itself needs a new migration.
"""

from __future__ import annotations

COUNCILS: tuple[dict[str, str], ...] = (
    {
        "code": "ARA",
        "name": "Auvergne-Rhône-Alpes",
        "email": "contact@oec-ara.fr",
        "phone": "04 72 60 27 60",
        "postal_address": "51 rue Montgolfier, 69006 Lyon",
        "website": "https://www.oec-ara.fr",
    },
    {
        "code": "BFC",
        "name": "Bourgogne-Franche-Comté",
        "email": "contact@oec-bfc.fr",
        "phone": "03 80 59 65 20",
        "postal_address": "14 rue Vauban, 21000 Dijon",
        "website": "https://www.oec-bfc.fr",
    },
    {
        "code": "BRE",
        "name": "Bretagne",
        "email": "contact@oec-bretagne.fr",
        "phone": "02 99 83 38 38",
        "postal_address": "18 rue Le Brix, 35200 Rennes",
        "website": "https://www.oec-bretagne.fr",
    },
    {
        "code": "CVL",
        "name": "Centre-Val de Loire",
        "email": "contact@oec-centre.fr",
        "phone": "02 38 77 60 30",
        "postal_address": "3 rue Jeanne d'Arc, 45000 Orléans",
        "website": "https://www.oec-centre.fr",
    },
    {
        "code": "GE",
        "name": "Grand Est",
        "email": "contact@oec-grandest.fr",
        "phone": "03 88 45 60 00",
        "postal_address": "3 rue de l'Étang, 67000 Strasbourg",
        "website": "https://www.oec-grandest.fr",
    },
    {
        "code": "HDF",
        "name": "Hauts-de-France",
        "email": "contact@oec-hdf.fr",
        "phone": "03 20 15 89 89",
        "postal_address": "10 rue de Tenremonde, 59000 Lille",
        "website": "https://www.oec-hdf.fr",
    },
    {
        "code": "IDF",
        "name": "Paris Île-de-France",
        "email": "contact@oec-paris.fr",
        "phone": "01 55 04 31 31",
        "postal_address": "50 rue de Londres, 75008 Paris",
        "website": "https://www.oec-paris.fr",
    },
    {
        "code": "NOR",
        "name": "Normandie",
        "email": "contact@oec-normandie.fr",
        "phone": "02 35 71 14 22",
        "postal_address": "20 rue Saint-Lô, 76000 Rouen",
        "website": "https://www.oec-normandie.fr",
    },
    {
        "code": "NAQ",
        "name": "Nouvelle-Aquitaine",
        "email": "contact@oec-nouvelleaquitaine.fr",
        "phone": "05 56 44 23 82",
        "postal_address": "26 cours Clemenceau, 33000 Bordeaux",
        "website": "https://www.oec-nouvelleaquitaine.fr",
    },
    {
        "code": "OCC",
        "name": "Occitanie",
        "email": "contact@oec-occitanie.fr",
        "phone": "05 61 14 71 30",
        "postal_address": "2 rue d'Austerlitz, 31000 Toulouse",
        "website": "https://www.oec-occitanie.fr",
    },
    {
        "code": "PDL",
        "name": "Pays de la Loire",
        "email": "contact@oec-paysdelaloire.fr",
        "phone": "02 40 44 98 00",
        "postal_address": "8 rue du Calvaire, 44000 Nantes",
        "website": "https://www.oec-paysdelaloire.fr",
    },
    {
        "code": "PACA",
        "name": "Marseille PACA",
        "email": "contact@oec-paca.fr",
        "phone": "04 91 33 74 98",
        "postal_address": "2 place du Général de Gaulle, 13001 Marseille",
        "website": "https://www.oec-paca.fr",
    },
    {
        "code": "GLP",
        "name": "Guadeloupe",
        "email": "contact@oec-guadeloupe.fr",
        "phone": "05 90 83 06 21",
        "postal_address": "Immeuble Lafayette, 97110 Pointe-à-Pitre",
        "website": "https://www.oec-guadeloupe.fr",
    },
    {
        "code": "MTQ",
        "name": "Martinique",
        "email": "contact@oec-martinique.fr",
        "phone": "05 96 63 16 64",
        "postal_address": "Immeuble Les Palmiers, 97200 Fort-de-France",
        "website": "https://www.oec-martinique.fr",
    },
    {
        "code": "GUY",
        "name": "Guyane",
        "email": "contact@oec-guyane.fr",
        "phone": "05 94 30 36 44",
        "postal_address": "Centre d'affaires, 97300 Cayenne",
        "website": "https://www.oec-guyane.fr",
    },
    {
        "code": "REU",
        "name": "La Réunion-Mayotte",
        "email": "contact@oec-reunion.fr",
        "phone": "02 62 21 04 38",
        "postal_address": "48 rue de Paris, 97400 Saint-Denis",
        "website": "https://www.oec-reunion.fr",
    },
)
