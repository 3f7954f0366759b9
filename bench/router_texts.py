"""Text for the labelled router pages (bench/router_pages.py): prose in several Latin-script
languages, and the kinds of born-digital page that are not prose (references, a table, a code
listing, formulas). All of it fits Helvetica's WinAnsi encoding."""

PROSE = {
    "en": (
        "The river rises in the hills to the north of the town and runs for about forty miles before it "
        "reaches the sea. In the last century its banks were lined with mills, and the water that turned "
        "their wheels also carried away what they left behind. When the mills closed, the river was slowly "
        "cleaned, and today it is one of the few places in the county where otters have returned. The "
        "survey that we describe in this report was carried out over three summers by a small team of "
        "volunteers, who walked the whole length of the river twice a year and recorded every sign of life "
        "they could find. Their notes show that the number of fish has grown in each of the last ten years, "
        "and that the birds which feed on them have followed. We are grateful to the land owners who let us "
        "cross their fields, and to the school that lent us its boats. The results are not final: a river "
        "changes with every flood, and what we have found may not hold for long. Still, it is clear that a "
        "river which was given up for lost can come back within the span of a single working life, if only "
        "people are willing to leave it alone and to keep an eye on it."
    ),
    "en2": (
        "Most of the cost of running a large data centre is not the price of the machines but the power "
        "needed to keep them cool. For this reason the design of a new hall starts with the flow of air "
        "and only then turns to the racks. In our study we compared two halls of the same size that were "
        "built five years apart. The older one moves cold air under a raised floor and lets it rise through "
        "holes in front of each rack; the newer one closes the space between two rows of racks and draws "
        "the warm air out from the top. Over a full year the newer hall used a fifth less energy for the "
        "same load, and most of the saving came in the summer months, when the outside air was too warm to "
        "be used directly. We also found that the gain depends on how well the rows are sealed: a single "
        "open panel can undo much of the benefit. The last section of this paper lists the changes that "
        "gave the largest savings for the smallest effort, in the order in which we would make them again."
    ),
    "en3": (
        "Dear Ms Patel, thank you for your letter of the fourth of March and for the drawings that came with "
        "it. I have shown them to the members of the committee, and we have agreed that the plans for the new "
        "library should go ahead as you propose, with two small changes. First, the reading room on the "
        "ground floor should face the garden rather than the street, so that it is quiet and has more light "
        "in the afternoon. Second, we would like the stairs to be wide enough for two people to pass with a "
        "pile of books each. We know that this will take some space from the offices on the first floor, and "
        "we are happy to accept that. Could you let us know by the end of the month whether these changes "
        "affect the price or the date on which the work can begin? With best wishes, yours sincerely."
    ),
    "fr": (
        "La ville s'est construite autour du port, et pendant longtemps toute sa vie a tourne vers la mer. "
        "Les maisons les plus anciennes se trouvent encore pres des quais, serrees les unes contre les "
        "autres, avec leurs facades etroites et leurs toits tres pentus. Au siecle dernier, lorsque la peche "
        "a commence a decliner, une partie de la population est partie vers les grandes villes de "
        "l'interieur. Ceux qui sont restes ont appris a vivre du tourisme, qui apporte chaque ete des "
        "milliers de visiteurs. Cette etude cherche a comprendre comment les habitants percoivent ce "
        "changement et ce qu'ils attendent de l'avenir. Nous avons interroge pres de deux cents personnes, "
        "de tous les ages, et nous leur avons demande de decrire la ville telle qu'elle etait dans leur "
        "enfance et telle qu'ils la voient aujourd'hui. Leurs reponses montrent un attachement profond au "
        "lieu, mais aussi une certaine inquietude devant la hausse des prix et le depart des jeunes."
    ),
    "de": (
        "Die Untersuchung wurde in den Jahren zwischen dem Fruehjahr und dem Herbst in drei kleinen "
        "Gemeinden am Rand des Gebirges durchgefuehrt. Ziel war es, die Veraenderungen in der "
        "Landwirtschaft zu beschreiben, die sich seit der Oeffnung der Maerkte ergeben haben. In allen "
        "drei Orten ist die Zahl der Betriebe deutlich zurueckgegangen, waehrend die Flaeche, die jeder "
        "einzelne Hof bewirtschaftet, gewachsen ist. Viele der Befragten berichten, dass sie ohne eine "
        "zweite Arbeit im Tal nicht mehr leben koennten. Zugleich hat sich die Art der Produkte geaendert: "
        "Statt Milch fuer die grosse Molkerei erzeugen einige Familien heute Kaese, den sie selbst auf dem "
        "Markt verkaufen, oder sie bieten Zimmer fuer Gaeste an. Wir zeigen in diesem Bericht, dass diese "
        "neuen Wege fuer manche Betriebe eine echte Zukunft bieten, fuer andere aber nur den Abschied "
        "hinauszoegern. Am Ende stehen Vorschlaege, wie die Gemeinden diesen Wandel begleiten koennen."
    ),
    "es": (
        "El proyecto comenzo como una pequena iniciativa de los vecinos del barrio, que querian recuperar "
        "un terreno abandonado junto a la estacion para convertirlo en un huerto comun. Durante el primer "
        "ano solo participaron unas veinte familias, pero la noticia se extendio pronto y hoy son mas de "
        "cien las personas que cultivan alli sus verduras. El huerto se ha convertido tambien en un lugar "
        "de encuentro, donde los mayores ensenan a los ninos a plantar y a cuidar la tierra. En este "
        "informe describimos como se organiza el trabajo, como se reparten el agua y las herramientas, y "
        "que problemas han surgido con el tiempo. Creemos que la experiencia puede servir de ejemplo para "
        "otros barrios de la ciudad que tienen espacios vacios y vecinos con ganas de hacer algo juntos."
    ),
    "it": (
        "Il museo si trova in un antico palazzo del centro storico, che fu la residenza di una famiglia di "
        "mercanti per piu di tre secoli. Le sale del primo piano conservano ancora i soffitti dipinti e i "
        "pavimenti originali, mentre al secondo piano sono esposte le collezioni di ceramiche e di tessuti "
        "che la citta ha raccolto nel corso del tempo. Negli ultimi anni il numero dei visitatori e "
        "cresciuto in modo costante, grazie anche alle mostre temporanee e alle attivita per le scuole. "
        "Questo documento presenta il piano per i prossimi cinque anni: il restauro delle sale che oggi "
        "sono chiuse, un nuovo ingresso accessibile a tutti e un catalogo completo delle opere, che sara "
        "consultabile anche in rete. Per ogni intervento indichiamo i costi previsti e i tempi di lavoro."
    ),
    "nl": (
        "Het onderzoek richt zich op de manier waarop kleine bedrijven in de regio omgaan met de stijgende "
        "prijzen van energie. Wij hebben met de eigenaren van veertig bedrijven gesproken, van bakkerijen "
        "tot garages, en hun gevraagd welke maatregelen zij de afgelopen twee jaar hebben genomen. De "
        "meesten hebben eerst gekeken naar verlichting en verwarming, omdat daar met weinig geld veel te "
        "winnen valt. Een kleiner deel heeft zonnepanelen op het dak laten leggen of oude machines "
        "vervangen door zuinigere modellen. Opvallend is dat bijna alle ondernemers zeggen dat zij meer "
        "zouden doen als zij beter wisten welke steun er bestaat en hoe zij die kunnen aanvragen."
    ),
    "pt": (
        "A escola foi fundada ha mais de cem anos por um grupo de professores que acreditava que todas as "
        "criancas da vila deviam aprender a ler e a escrever. Ao longo do tempo, o edificio foi crescendo "
        "com a cidade, e hoje recebe alunos de varios bairros e de muitas origens diferentes. Neste "
        "trabalho contamos a historia da escola a partir dos documentos guardados no seu arquivo e das "
        "memorias de antigos alunos e professores. Os registos mostram como mudaram as materias, os livros "
        "e a forma de ensinar, mas tambem como se manteve a ideia de que a escola deve estar aberta a todos."
    ),
}

REFERENCES = (
    "[1] A. Brown and C. Davis. Measuring river health with volunteer surveys. Journal of Applied "
    "Ecology, 41(3):512-527, 2004.\n"
    "[2] E. Fischer, G. Hoffmann, and I. Jansen. Air flow in raised floor data centres. In Proceedings of "
    "the International Conference on Energy Systems, pages 88-97, 2015.\n"
    "[3] K. Larsen. Small towns and the sea: a social history. University Press, Oxford, second edition, "
    "1998.\n"
    "[4] M. Novak and P. Quinn. Community gardens in dense cities. Urban Studies, 55(12):2701-2718, 2018.\n"
    "[5] R. Santos, T. Ueda, and V. Weber. Cooling costs at scale. arXiv preprint arXiv:2101.04567, 2021.\n"
    "[6] X. Young and Z. Zhang. Energy prices and small firms: evidence from forty interviews. Economic "
    "Review, 12(1):1-19, 2023.\n"
    "[7] L. Moreau. Les villes portuaires et le tourisme. Presses Universitaires, Rennes, 2011.\n"
    "[8] H. Keller. Landwirtschaft am Rand der Alpen. Verlag fuer Regionalgeschichte, 2009.\n"
    "[9] O. Ferreira. A escola e a vila: cem anos de historia. Edicoes do Arquivo, Lisboa, 2016.\n"
    "[10] J. Smith. On the use of paired comparisons in field studies. Statistics in Practice, 7:33-41, 2010."
)

TABLE = "\n".join(
    ["Table 2. Energy use by hall and month (MWh)", "Month      Hall A    Hall B    Saving    Outside (C)"]
    + [
        f"{m:<10} {a:>6.1f}    {b:>6.1f}    {100 * (a - b) / a:>5.1f}%    {t:>5.1f}"
        for m, a, b, t in [
            ("January", 412.3, 355.0, 2.1), ("February", 398.7, 341.2, 3.4), ("March", 405.9, 338.6, 7.8),
            ("April", 421.4, 340.1, 11.9), ("May", 447.8, 352.9, 15.6), ("June", 489.2, 371.4, 19.3),
            ("July", 512.6, 384.0, 22.7), ("August", 508.1, 380.3, 22.1), ("September", 466.0, 362.5, 17.4),
            ("October", 431.7, 349.8, 12.0), ("November", 409.5, 343.3, 6.5), ("December", 415.2, 352.6, 3.0),
        ]
    ]
    + ["Total      5318.4    4271.7    19.7%", "Source: site meters, read daily at 06:00."]
)

CODE = (
    "def load_rows(path, limit=None):\n"
    "    rows = []\n"
    "    with open(path, encoding=\"utf-8\") as f:\n"
    "        for i, line in enumerate(f):\n"
    "            if limit is not None and i >= limit:\n"
    "                break\n"
    "            key, _, value = line.rstrip().partition(\"\\t\")\n"
    "            rows.append((key, int(value or 0)))\n"
    "    return rows\n"
    "\n"
    "def summarise(rows):\n"
    "    total = sum(v for _, v in rows)\n"
    "    top = sorted(rows, key=lambda kv: kv[1], reverse=True)[:10]\n"
    "    return {\"total\": total, \"top\": top, \"count\": len(rows)}\n"
    "\n"
    "if __name__ == \"__main__\":\n"
    "    import sys\n"
    "    stats = summarise(load_rows(sys.argv[1]))\n"
    "    print(f\"{stats['count']} rows, total {stats['total']}\")\n"
    "    for key, value in stats[\"top\"]:\n"
    "        print(f\"{key:<20} {value:>8}\")"
)

FORMULAS = (
    "Theorem 3. Let f be continuous on [a, b] and differentiable on (a, b). Then there is a point c in "
    "(a, b) with f'(c) = (f(b) - f(a)) / (b - a).\n"
    "Proof. Put g(x) = f(x) - f(a) - (x - a)(f(b) - f(a)) / (b - a). Then g(a) = g(b) = 0, and by the "
    "previous lemma g'(c) = 0 for some c in (a, b), which is the claim.\n"
    "(3.1)   E[X] = sum_i x_i p_i,   Var(X) = E[X^2] - E[X]^2\n"
    "(3.2)   ||u + v||^2 = ||u||^2 + 2<u, v> + ||v||^2 <= (||u|| + ||v||)^2\n"
    "(3.3)   lim_{n -> inf} (1 + x/n)^n = e^x,   |x| < 1 => 1/(1 - x) = 1 + x + x^2 + ...\n"
    "Corollary 4. If f'(x) = 0 for all x in (a, b), then f is constant on [a, b]. In particular two "
    "functions with the same derivative differ by a constant, and an antiderivative is unique up to one."
)

FOOTERS = (
    "Downloaded from https://journals.example.org/doi/10.1017/S0012345678901234 on 14 March 2021 at "
    "09:41:12, subject to the terms of use.",
    "This content downloaded from 192.0.2.44 on Tue, 08 Jun 2021 17:03:55 UTC. All use subject to "
    "https://about.example.org/terms",
    "Digitized by the University Library for the Open Archive project; reproduction for private study "
    "only. Scan date 2019-11-02, volume 14, page 233.",
)
