/** English catalogue. Placeholders in braces are filled by `format` and escaped when rendered. */
export const en = {
  lang: { code: 'en', htmlLang: 'en', name: 'English', switchLabel: 'Language' },
  common: {
    privacy: 'Privacy notice',
    terms: 'Terms of use',
    myData: 'My data and consents',
    back: 'Back',
    start: 'Start again',
    optional: 'optional',
    error: 'Please check the form',
  },
  start: {
    title: 'Free Wi-Fi at {mall}',
    intro: 'Choose how you want to go online. Members can collect benefits; everyone gets the same Wi-Fi.',
    guest: 'Go online as a guest',
    member: 'Log in as a member',
    signup: 'Become a member',
  },
  consent: {
    terms: 'I accept the terms of use (required for Wi-Fi).',
    termsLink: 'Read the terms of use',
    analytics: 'Link my visits to my membership (optional).',
    analyticsHint: 'Lets the mall count your visits as a member. Wi-Fi works the same without it. You can withdraw at any time.',
    marketing: 'Send me offers from the mall (optional).',
    marketingHint: 'By text message to your phone. You can withdraw at any time.',
  },
  sms: { text: '{mall} Wi-Fi code: {code}. Valid for {minutes} minutes. Never share it.' },
  guest: { title: 'Go online as a guest', submit: 'Connect' },
  member: {
    title: 'Member login',
    identifier: 'Member number or mobile phone',
    identifierHint: 'A 9-digit member number, or a mobile number such as 13800138000.',
    send: 'Send me a code',
    sent: 'If this number belongs to a member, a 6-digit code is on its way to the phone on file. It is valid for 5 minutes.',
    code: '6-digit code',
    submit: 'Log in and connect',
    resend: 'Send a new code',
    notMember: 'No membership is registered for this phone number. You can become a member now.',
  },
  signup: {
    title: 'Become a member',
    phone: 'Mobile phone',
    phoneHint: 'We send a one-time code to check the number.',
    name: 'Name',
    send: 'Send me a code',
    sent: 'A 6-digit code is on its way to your phone. It is valid for 5 minutes.',
    submit: 'Join and connect',
  },
  errors: {
    termsRequired: 'Please accept the terms of use to go online.',
    identifier: 'Enter a 9-digit member number or a mobile phone number.',
    phone: 'Enter a valid mobile phone number.',
    name: 'The name may have at most 60 characters.',
    codeFormat: 'Enter the 6 digits of the code.',
    codeWrong: 'That code is not correct. Tries left: {left}.',
    codeExpired: 'This code has expired or was used up. Ask for a new one.',
    cooldown: 'Please wait {seconds} seconds before asking for a new code.',
    rateLimited: 'Too many attempts. Please try again later.',
    sendFailed: 'We could not send a code just now. Please try again in a moment.',
    flowExpired: 'This page has expired. Please start again.',
    badRequest: 'This request could not be understood. Please start again.',
    gateway: 'We could not connect you to the Wi-Fi. Please try again.',
    notFound: 'This page does not exist.',
    server: 'Something went wrong on our side. Please try again.',
  },
  connecting: {
    title: 'Connecting…',
    body: 'You are being connected. If nothing happens within a few seconds, use the button below.',
    button: 'Continue',
  },
  success: {
    title: 'You are online',
    body: 'Enjoy the free Wi-Fi at {mall}. Your session lasts {hours} hours.',
    memberNumber: 'Your member number is {number}. Keep it for your next visit.',
    continue: 'Continue to {host}',
  },
  mydata: {
    title: 'My data and consents',
    intro: 'Members can withdraw consents or ask to be unlinked and deleted here. We check that the phone is yours with a one-time code.',
    phone: 'Mobile phone of your membership',
    send: 'Send me a code',
    sent: 'If this number belongs to a member, a 6-digit code is on its way. It is valid for 5 minutes.',
    submit: 'Show my consents',
    current: 'Your current consents',
    granted: 'given',
    notGranted: 'not given',
    analytics: 'Link my visits to my membership',
    marketing: 'Offers from the mall',
    withdrawAnalytics: 'Withdraw: stop linking my visits',
    withdrawMarketing: 'Withdraw: no more offers',
    delete: 'Unlink my devices and delete my membership',
    deleteHint: 'Deletes your phone number, name, consents and device links. This cannot be undone.',
    done: 'Done. Your choice has been recorded.',
    deleted: 'Your membership and its device links have been deleted.',
    noMember: 'There is no membership for this phone number, so we hold no member data for it.',
  },
  privacy: {
    title: 'Privacy notice',
    version: 'Version {version}',
    sections: [
      {
        heading: 'Who we are',
        body: [
          '{mall} runs this Wi-Fi and the membership programme. This notice explains what we collect, why, for how long, and how you can withdraw.',
        ],
      },
      {
        heading: 'Wi-Fi and footfall counting',
        body: [
          'Your phone sends a device address (MAC address) to our Wi-Fi and to sensors in the shops. We never store it as it is: it is replaced by a code that changes every day, so your visits on different days cannot be connected. We keep only counts per shop and time period.',
          'We use this to know how many people visit, how long they stay and how busy the shops are.',
        ],
      },
      {
        heading: 'Members',
        body: [
          'If you become a member we store your mobile number (encrypted), your name if you give it, your member number and your consents with the date, language and text version.',
          'We use your phone number only to send you one-time login codes and, if you agree, offers.',
          'Only if you tick "Link my visits to my membership" do we keep a link between your phone and your membership, so that later visits count as member visits. This is optional; the Wi-Fi works the same without it.',
        ],
      },
      {
        heading: 'How long we keep data',
        body: [
          'Login codes: 5 minutes, stored only in scrambled form. Daily device codes: replaced every day, working data kept only for hours. Visit counts: kept as statistics without personal data. Member data: until you delete your membership.',
        ],
      },
      {
        heading: 'Your choices',
        body: [
          'You can withdraw your consents or delete your membership at any time on the "My data and consents" page. Withdrawing removes the link between your devices and your membership straight away.',
          'To stop anonymous counting of your phone, switch off Wi-Fi or ask the mall service desk to exclude your device.',
        ],
      },
    ],
  },
  termsPage: {
    title: 'Terms of use',
    version: 'Version {version}',
    sections: [
      {
        heading: 'The service',
        body: ['{mall} offers free Wi-Fi for its visitors. The service may be limited in time and speed and may be unavailable at times.'],
      },
      {
        heading: 'Fair use',
        body: ['Do not use the Wi-Fi for anything illegal, to attack other systems, or to send spam. We may end a session that breaks these rules.'],
      },
      {
        heading: 'Privacy',
        body: ['How we handle personal data is explained in the privacy notice.'],
      },
    ],
  },
} as const;

type Widen<T> = T extends string ? string : T extends readonly (infer U)[] ? readonly Widen<U>[] : { readonly [K in keyof T]: Widen<T[K]> };

/** The shape every catalogue must have. */
export type Messages = Widen<typeof en>;
