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

// workCS are customer service's search and the recipient's contacts.
var workCS = []entry{
	{"Tracking ID, reference, phone or email", "Numéro de suivi, référence, téléphone ou e-mail", "Codice di tracciamento, riferimento, telefono o email", "Número de seguimiento, referencia, teléfono o correo"},
	{"Find", "Chercher", "Cerca", "Buscar"},
	{"Parcel", "Colis", "Pacco", "Paquete"},
	{"Reference", "Référence", "Riferimento", "Referencia"},
	{"Recipient", "Destinataire", "Destinatario", "Destinatario"},
	{"Recipient contacts", "Coordonnées du destinataire", "Contatti del destinatario", "Contactos del destinatario"},
	{"Phone", "Téléphone", "Telefono", "Teléfono"},
	{"Show", "Afficher", "Mostra", "Mostrar"},
	{"Showing the contacts in full is logged with your name.", "L'affichage complet des coordonnées est enregistré à votre nom.",
		"La visualizzazione completa dei contatti viene registrata a tuo nome.", "Mostrar los contactos completos queda registrado con su nombre."},
	{"Who saw the contacts", "Qui a vu les coordonnées", "Chi ha visto i contatti", "Quién vio los contactos"},
	{"Nobody has seen them in full.", "Personne ne les a vues en entier.", "Nessuno li ha visti per intero.", "Nadie los ha visto completos."},
}
