package locale

// work are the catalogue entries of the working day's pages: the API
// reference, customer service's search, the station board and the shipper's
// search and export.
var work = []entry{
	// API reference.
	{"API reference", "Référence de l'API", "Riferimento API", "Referencia de la API"},
	{"The reference needs JavaScript; the description itself is at", "La référence a besoin de JavaScript ; la description elle-même est à",
		"Il riferimento richiede JavaScript; la descrizione stessa è a", "La referencia necesita JavaScript; la descripción misma está en"},
}
