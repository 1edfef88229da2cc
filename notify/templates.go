package notify

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Data is what a message template can say. Passcode is filled only at the
// moment of sending.
type Data struct {
	TrackingIDs     []string
	RecipientName   string
	Passcode        string
	ServiceDate     string
	DetailCode      string
	NextAttemptDate string
	BagIDs          []string
	ToBuyer         bool
	Link            string // a portal link (sign-in messages)
	Code            string // a portal sign-in code
	Note            string
}

// IDs joins the tracking IDs for a sentence.
func (d Data) IDs() string { return strings.Join(d.TrackingIDs, ", ") }

// Bags joins the bag IDs.
func (d Data) Bags() string { return strings.Join(d.BagIDs, ", ") }

// How says in words how a parcel was delivered, in the language.
func (d Data) how(lang string) string {
	w := deliveredHow[lang]
	if w == nil {
		w = deliveredHow["en"]
	}
	if s, ok := w[d.DetailCode]; ok {
		return s
	}
	return w[""]
}

var deliveredHow = map[string]map[string]string{
	"en": {"DeliveredWithOTP": "Delivered with OTP", "DeliveredWithPhoneDigits": "Delivered (checked with your phone's last digits)",
		"DeliveredToGarage": "Delivered in your garage", "DeliveredToPorch": "Left at your porch, with a photo", "": "Delivered"},
	"fr": {"DeliveredWithOTP": "Livré avec code", "DeliveredWithPhoneDigits": "Livré (vérifié par les chiffres de votre téléphone)",
		"DeliveredToGarage": "Livré dans votre garage", "DeliveredToPorch": "Déposé devant votre porte, avec photo", "": "Livré"},
	"it": {"DeliveredWithOTP": "Consegnato con codice", "DeliveredWithPhoneDigits": "Consegnato (verificato con le cifre del telefono)",
		"DeliveredToGarage": "Consegnato nel garage", "DeliveredToPorch": "Lasciato alla porta, con foto", "": "Consegnato"},
	"es": {"DeliveredWithOTP": "Entregado con codigo", "DeliveredWithPhoneDigits": "Entregado (verificado con las cifras del telefono)",
		"DeliveredToGarage": "Entregado en su garaje", "DeliveredToPorch": "Dejado en su puerta, con foto", "": "Entregado"},
}

// texts holds, per language and kind, the SMS text, the email subject and the
// email body. SMS texts are kept within two segments (tested), which means the
// GSM 7-bit alphabet: Spanish SMS drop the accents it lacks, as Spanish SMS
// commonly do, rather than fall back to 70-character UCS-2 segments.
var texts = map[string]map[string][3]string{
	"en": {
		"garage": {
			`handoff: your garage, parcel {{.IDs}}: {{.Step}}.`,
			`Your garage and parcel {{.IDs}}`,
			"Hello {{.RecipientName}},\n\nYour garage, for parcel {{.IDs}}: {{.Step}}.\nYou can switch key delivery off at any time in the portal.\n",
		},
		"shipped": {
			`handoff: parcel {{.IDs}} is on its way.{{if .Bags}} Bag {{.Bags}}.{{end}} A passcode may be needed at delivery; we will text it on the day.`,
			`Your parcel {{.IDs}} is on its way`,
			"Hello {{.RecipientName}},\n\nYour parcel {{.IDs}} has been picked up and is on its way.{{if .Bags}} It travels in sealed bag {{.Bags}}.{{end}}\nIf it needs a passcode at delivery, we will send it to you on the day it goes out.\n",
		},
		"out_for_delivery": {
			`handoff: {{.IDs}} arrives today.{{if .Passcode}} Your delivery code: {{.Passcode}}. Give it only to the driver at your door.{{end}}{{if .Bags}} Check bag {{.Bags}} is sealed.{{end}}`,
			`Out for delivery today: {{.IDs}}`,
			"Hello {{.RecipientName}},\n\nYour parcel {{.IDs}} is out for delivery today.{{if .Passcode}}\n\nYour delivery code is {{.Passcode}}. Tell it only to the driver at your door; nobody from us will ever ask for it by phone.{{end}}{{if .Bags}}\n\nIt comes in sealed bag {{.Bags}}: check the ID and the seal before you accept it.{{end}}\n",
		},
		"resend": {
			`handoff: your delivery code for {{.IDs}} is {{.Passcode}}. Give it only to the driver at your door.`,
			`Your delivery code for {{.IDs}}`,
			"Hello {{.RecipientName}},\n\nThe driver is at your door with {{.IDs}}. Your delivery code is {{.Passcode}}.\n",
		},
		"delivered": {
			`handoff: {{.IDs}} - {{.How}}.`,
			`Delivered: {{.IDs}}`,
			"Hello {{.RecipientName}},\n\n{{.How}}: {{.IDs}}.\n",
		},
		"attempt_failed": {
			`handoff: we could not deliver {{.IDs}} today{{if eq .DetailCode "OtpNotAvailable"}} (no delivery code){{end}}. We will try again{{if .NextAttemptDate}} on {{.NextAttemptDate}}{{end}} with a new code.`,
			`We could not deliver {{.IDs}}`,
			"Hello {{.RecipientName}},\n\nWe could not deliver {{.IDs}} today{{if eq .DetailCode \"OtpNotAvailable\"}} because the delivery code was not given{{end}}. The parcel goes back to our station and we will try again{{if .NextAttemptDate}} on {{.NextAttemptDate}}{{end}}. A new code will be sent on that day.\n",
		},
		"returning": {
			`handoff: after several attempts {{.IDs}} is going back to the sender.`,
			`{{.IDs}} is going back to the sender`,
			"Hello {{.RecipientName}},\n\nAfter several delivery attempts, {{.IDs}} is going back to the sender. Please contact them.\n",
		},
		"signin": {
			`handoff: your sign-in code is {{.Code}} (valid 10 minutes). Or open {{.Link}}`,
			`Sign in to follow your parcels`,
			"Hello,\n\nYour sign-in code is {{.Code}}. It is valid for 10 minutes and works once.\nOr open this link: {{.Link}}\n\nIf you did not ask for it, ignore this message.\n",
		},
	},
	"fr": {
		"garage": {
			`handoff : votre garage, colis {{.IDs}} : {{.Step}}.`,
			`Votre garage et le colis {{.IDs}}`,
			"Bonjour {{.RecipientName}},\n\nVotre garage, pour le colis {{.IDs}} : {{.Step}}.\nVous pouvez désactiver la livraison en garage à tout moment sur le portail.\n",
		},
		"shipped": {
			`handoff : le colis {{.IDs}} est en route.{{if .Bags}} Sac {{.Bags}}.{{end}} Si un code est requis à la livraison, nous vous l'enverrons ce jour-là.`,
			`Votre colis {{.IDs}} est en route`,
			"Bonjour {{.RecipientName}},\n\nVotre colis {{.IDs}} a été pris en charge.{{if .Bags}} Il voyage dans le sac scellé {{.Bags}}.{{end}}\nS'il faut un code à la livraison, nous vous l'enverrons le jour de la livraison.\n",
		},
		"out_for_delivery": {
			`handoff : {{.IDs}} arrive aujourd'hui.{{if .Passcode}} Votre code de livraison : {{.Passcode}}. Ne le donnez qu'au livreur à votre porte.{{end}}{{if .Bags}} Vérifiez le sac {{.Bags}}.{{end}}`,
			`En cours de livraison : {{.IDs}}`,
			"Bonjour {{.RecipientName}},\n\nVotre colis {{.IDs}} est en cours de livraison aujourd'hui.{{if .Passcode}}\n\nVotre code de livraison est {{.Passcode}}. Ne le donnez qu'au livreur à votre porte.{{end}}{{if .Bags}}\n\nIl arrive dans le sac scellé {{.Bags}} : vérifiez le numéro et le scellé.{{end}}\n",
		},
		"resend": {
			`handoff : votre code de livraison pour {{.IDs}} est {{.Passcode}}. Ne le donnez qu'au livreur à votre porte.`,
			`Votre code de livraison pour {{.IDs}}`,
			"Bonjour {{.RecipientName}},\n\nLe livreur est à votre porte avec {{.IDs}}. Votre code de livraison est {{.Passcode}}.\n",
		},
		"delivered": {
			`handoff : {{.IDs}} - {{.How}}.`,
			`Livré : {{.IDs}}`,
			"Bonjour {{.RecipientName}},\n\n{{.How}} : {{.IDs}}.\n",
		},
		"attempt_failed": {
			`handoff : nous n'avons pas pu livrer {{.IDs}} aujourd'hui{{if eq .DetailCode "OtpNotAvailable"}} (code non fourni){{end}}. Nouvel essai{{if .NextAttemptDate}} le {{.NextAttemptDate}}{{end}} avec un nouveau code.`,
			`Nous n'avons pas pu livrer {{.IDs}}`,
			"Bonjour {{.RecipientName}},\n\nNous n'avons pas pu livrer {{.IDs}} aujourd'hui{{if eq .DetailCode \"OtpNotAvailable\"}} car le code de livraison n'a pas été donné{{end}}. Le colis retourne à notre agence ; nouvel essai{{if .NextAttemptDate}} le {{.NextAttemptDate}}{{end}}, avec un nouveau code.\n",
		},
		"returning": {
			`handoff : après plusieurs tentatives, {{.IDs}} retourne à l'expéditeur.`,
			`{{.IDs}} retourne à l'expéditeur`,
			"Bonjour {{.RecipientName}},\n\nAprès plusieurs tentatives, {{.IDs}} retourne à l'expéditeur. Merci de le contacter.\n",
		},
		"signin": {
			`handoff : votre code de connexion est {{.Code}} (10 minutes). Ou ouvrez {{.Link}}`,
			`Connectez-vous pour suivre vos colis`,
			"Bonjour,\n\nVotre code de connexion est {{.Code}}, valable 10 minutes et une seule fois.\nOu ouvrez ce lien : {{.Link}}\n",
		},
	},
	"it": {
		"garage": {
			`handoff: il tuo garage, pacco {{.IDs}}: {{.Step}}.`,
			`Il tuo garage e il pacco {{.IDs}}`,
			"Ciao {{.RecipientName}},\n\nIl tuo garage, per il pacco {{.IDs}}: {{.Step}}.\nPuoi disattivare la consegna in garage in qualsiasi momento dal portale.\n",
		},
		"shipped": {
			`handoff: il pacco {{.IDs}} è in viaggio.{{if .Bags}} Busta {{.Bags}}.{{end}} Alla consegna potrebbe servire un codice: lo invieremo il giorno stesso.`,
			`Il tuo pacco {{.IDs}} è in viaggio`,
			"Ciao {{.RecipientName}},\n\nIl tuo pacco {{.IDs}} è stato ritirato ed è in viaggio.{{if .Bags}} Viaggia nella busta sigillata {{.Bags}}.{{end}}\nSe alla consegna servirà un codice, te lo invieremo il giorno della consegna.\n",
		},
		"out_for_delivery": {
			`handoff: {{.IDs}} arriva oggi.{{if .Passcode}} Codice di consegna: {{.Passcode}}. Dallo solo al corriere alla tua porta.{{end}}{{if .Bags}} Controlla la busta {{.Bags}}.{{end}}`,
			`In consegna oggi: {{.IDs}}`,
			"Ciao {{.RecipientName}},\n\nIl tuo pacco {{.IDs}} è in consegna oggi.{{if .Passcode}}\n\nIl codice di consegna è {{.Passcode}}. Dallo solo al corriere alla tua porta.{{end}}{{if .Bags}}\n\nArriva nella busta sigillata {{.Bags}}: controlla numero e sigillo.{{end}}\n",
		},
		"resend": {
			`handoff: il codice di consegna per {{.IDs}} è {{.Passcode}}. Dallo solo al corriere alla tua porta.`,
			`Il tuo codice di consegna per {{.IDs}}`,
			"Ciao {{.RecipientName}},\n\nIl corriere è alla tua porta con {{.IDs}}. Il codice di consegna è {{.Passcode}}.\n",
		},
		"delivered": {
			`handoff: {{.IDs}} - {{.How}}.`,
			`Consegnato: {{.IDs}}`,
			"Ciao {{.RecipientName}},\n\n{{.How}}: {{.IDs}}.\n",
		},
		"attempt_failed": {
			`handoff: oggi non abbiamo potuto consegnare {{.IDs}}{{if eq .DetailCode "OtpNotAvailable"}} (codice non fornito){{end}}. Nuovo tentativo{{if .NextAttemptDate}} il {{.NextAttemptDate}}{{end}} con un nuovo codice.`,
			`Non abbiamo potuto consegnare {{.IDs}}`,
			"Ciao {{.RecipientName}},\n\nOggi non abbiamo potuto consegnare {{.IDs}}{{if eq .DetailCode \"OtpNotAvailable\"}} perché il codice di consegna non è stato fornito{{end}}. Il pacco torna in sede; nuovo tentativo{{if .NextAttemptDate}} il {{.NextAttemptDate}}{{end}}, con un nuovo codice.\n",
		},
		"returning": {
			`handoff: dopo diversi tentativi {{.IDs}} torna al mittente.`,
			`{{.IDs}} torna al mittente`,
			"Ciao {{.RecipientName}},\n\nDopo diversi tentativi di consegna, {{.IDs}} torna al mittente. Contattalo, per favore.\n",
		},
		"signin": {
			`handoff: il tuo codice di accesso è {{.Code}} (10 minuti). Oppure apri {{.Link}}`,
			`Accedi per seguire i tuoi pacchi`,
			"Ciao,\n\nIl tuo codice di accesso è {{.Code}}, valido 10 minuti e una sola volta.\nOppure apri questo link: {{.Link}}\n",
		},
	},
	"es": {
		"garage": {
			`handoff: su garaje, paquete {{.IDs}}: {{.Step}}.`,
			`Su garaje y el paquete {{.IDs}}`,
			"Hola {{.RecipientName}},\n\nSu garaje, para el paquete {{.IDs}}: {{.Step}}.\nPuede desactivar la entrega en garaje cuando quiera en el portal.\n",
		},
		"shipped": {
			`handoff: el paquete {{.IDs}} esta en camino.{{if .Bags}} Bolsa {{.Bags}}.{{end}} Si hace falta un codigo en la entrega, se lo enviaremos ese dia.`,
			`Su paquete {{.IDs}} está en camino`,
			"Hola {{.RecipientName}},\n\nSu paquete {{.IDs}} ha sido recogido y está en camino.{{if .Bags}} Viaja en la bolsa precintada {{.Bags}}.{{end}}\nSi hace falta un código en la entrega, se lo enviaremos el día del reparto.\n",
		},
		"out_for_delivery": {
			`handoff: {{.IDs}} llega hoy.{{if .Passcode}} Su codigo de entrega: {{.Passcode}}. Deselo solo al repartidor en su puerta.{{end}}{{if .Bags}} Revise la bolsa {{.Bags}}.{{end}}`,
			`En reparto hoy: {{.IDs}}`,
			"Hola {{.RecipientName}},\n\nSu paquete {{.IDs}} está en reparto hoy.{{if .Passcode}}\n\nSu código de entrega es {{.Passcode}}. Déselo solo al repartidor en su puerta.{{end}}{{if .Bags}}\n\nLlega en la bolsa precintada {{.Bags}}: compruebe el número y el precinto.{{end}}\n",
		},
		"resend": {
			`handoff: su codigo de entrega para {{.IDs}} es {{.Passcode}}. Deselo solo al repartidor en su puerta.`,
			`Su código de entrega para {{.IDs}}`,
			"Hola {{.RecipientName}},\n\nEl repartidor está en su puerta con {{.IDs}}. Su código de entrega es {{.Passcode}}.\n",
		},
		"delivered": {
			`handoff: {{.IDs}} - {{.How}}.`,
			`Entregado: {{.IDs}}`,
			"Hola {{.RecipientName}},\n\n{{.How}}: {{.IDs}}.\n",
		},
		"attempt_failed": {
			`handoff: hoy no pudimos entregar {{.IDs}}{{if eq .DetailCode "OtpNotAvailable"}} (sin codigo){{end}}. Lo intentaremos{{if .NextAttemptDate}} el {{.NextAttemptDate}}{{end}} con un codigo nuevo.`,
			`No pudimos entregar {{.IDs}}`,
			"Hola {{.RecipientName}},\n\nHoy no pudimos entregar {{.IDs}}{{if eq .DetailCode \"OtpNotAvailable\"}} porque no se dio el código de entrega{{end}}. El paquete vuelve a nuestra estación; lo intentaremos de nuevo{{if .NextAttemptDate}} el {{.NextAttemptDate}}{{end}}, con un código nuevo.\n",
		},
		"returning": {
			`handoff: tras varios intentos, {{.IDs}} vuelve al remitente.`,
			`{{.IDs}} vuelve al remitente`,
			"Hola {{.RecipientName}},\n\nTras varios intentos de entrega, {{.IDs}} vuelve al remitente. Póngase en contacto con él.\n",
		},
		"signin": {
			`handoff: su codigo de acceso es {{.Code}} (10 minutos). O abra {{.Link}}`,
			`Acceda para seguir sus paquetes`,
			"Hola,\n\nSu código de acceso es {{.Code}}, válido 10 minutos y una sola vez.\nO abra este enlace: {{.Link}}\n",
		},
	},
}

// Kinds lists the message kinds there are templates for.
func Kinds() []string {
	var out []string
	for k := range texts["en"] {
		out = append(out, k)
	}
	return out
}

// Languages lists the languages there are templates for.
func Languages() []string { return []string{"en", "fr", "it", "es"} }

type view struct {
	Data
	How  string
	Step string
}

// garageSteps says each garage step in words, per language.
var garageSteps = map[string]map[string]string{
	"en": {"requested": "the driver asked to open it", "opened": "it was opened for your delivery", "closed": "it was closed again and confirmed closed",
		"failed": "it did not open; nothing was left", "close_failed": "IT DID NOT CLOSE. Please check it now; our support team is on it", "revoked": "access was withdrawn"},
	"fr": {"requested": "le livreur a demandé l'ouverture", "opened": "il a été ouvert pour votre livraison", "closed": "il a été refermé et sa fermeture confirmée",
		"failed": "il ne s'est pas ouvert ; rien n'a été déposé", "close_failed": "IL NE S'EST PAS REFERMÉ. Vérifiez-le ; notre service client est prévenu", "revoked": "l'accès a été retiré"},
	"it": {"requested": "il corriere ha chiesto di aprirlo", "opened": "è stato aperto per la consegna", "closed": "è stato richiuso e la chiusura confermata",
		"failed": "non si è aperto; nulla è stato lasciato", "close_failed": "NON SI È CHIUSO. Controllalo ora; il nostro servizio clienti è avvisato", "revoked": "l'accesso è stato revocato"},
	"es": {"requested": "el repartidor pidio abrirlo", "opened": "se abrio para su entrega", "closed": "se cerro de nuevo y se confirmo el cierre",
		"failed": "no se abrio; no se dejo nada", "close_failed": "NO SE CERRO. Reviselo ahora; nuestro servicio de atencion esta avisado", "revoked": "se retiro el acceso"},
}

// Render returns the text of a message of kind in lang (English when the
// language has no templates) for channel: for SMS the subject is empty.
func Render(kind, lang, channel string, d Data) (subject, text string, err error) {
	byKind, ok := texts[lang]
	if !ok {
		lang, byKind = "en", texts["en"]
	}
	t, ok := byKind[kind]
	if !ok {
		return "", "", fmt.Errorf("notify: no template for %q", kind)
	}
	v := view{Data: d, How: d.how(lang), Step: garageSteps[lang][d.Note]}
	exec := func(src string) (string, error) {
		tpl, err := parsed(kind, src)
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, v); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	if channel == SMS {
		text, err = exec(t[0])
		return "", text, err
	}
	if subject, err = exec(t[1]); err != nil {
		return "", "", err
	}
	text, err = exec(t[2])
	return subject, text, err
}

// gsm7 is the GSM 03.38 basic character set; an SMS in it packs 160
// characters a segment, anything else falls back to UCS-2 at 70.
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7ext are the characters that cost two septets (escape + char).
const gsm7ext = "^{}\\[~]|€"

// Segments returns how many SMS segments text takes.
func Segments(text string) int {
	septets, ucs2 := 0, false
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7ext, r):
			septets += 2
		default:
			ucs2 = true
		}
	}
	if ucs2 {
		n := utf8.RuneCountInString(text) // close enough: no astral characters in our texts
		if n <= 70 {
			return 1
		}
		return (n + 66) / 67
	}
	if septets <= 160 {
		return 1
	}
	return (septets + 152) / 153
}
